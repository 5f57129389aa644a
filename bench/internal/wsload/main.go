package wsload

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main is the generator's command line. It prints the events and finally
// one line "RESULT <json>" (a loadgen.Result) on stdout, and a human
// summary on stderr. SIGTERM or SIGINT ends an idle hold.
func Main(args []string) error {
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	cfg := Config{Events: os.Stdout}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9000", "server `host:port` (keep it on loopback)")
	fs.StringVar(&cfg.Mode, "mode", ReqResp, "reqresp: one message in flight per connection; idle: open -conns connections and hold them")
	fs.IntVar(&cfg.Conns, "conns", 0, "connections (default 100, or 10000 in idle mode)")
	fs.IntVar(&cfg.Size, "size", 64, "payload bytes per message")
	fs.BoolVar(&cfg.Text, "text", false, "send text messages (default binary)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured lead-in before the window")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured window")
	fs.DurationVar(&cfg.Hold, "hold", time.Minute, "idle: hold the connections at most this long")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 5*time.Second, "timeout per connect and handshake (and first echo in idle mode)")
	fs.DurationVar(&cfg.IOTimeout, "io-timeout", 5*time.Second, "how long a reply may still take after the window ends")
	fs.IntVar(&cfg.DialParallel, "dial-parallel", 100, "connection attempts in flight at once")
	fs.DurationVar(&cfg.ConnectIn, "connect-within", time.Minute, "give up opening connections after this long")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("wsload flags: %w", err)
	}
	if cfg.Conns == 0 {
		cfg.Conns = 100
		if cfg.Mode == Idle {
			cfg.Conns = 10000
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	limit := cfg.ConnectIn + cfg.Warmup + cfg.Duration + cfg.IOTimeout
	if cfg.Mode == Idle {
		limit = cfg.ConnectIn + cfg.Hold
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	res, err := Run(ctx, cfg)
	js, jerr := json.Marshal(res)
	if jerr != nil {
		return fmt.Errorf("encode result: %w", jerr)
	}
	fmt.Printf("RESULT %s\n", js)
	fmt.Fprintf(os.Stderr, "%s: %d conns (%d failed to connect), %d msgs in %.2fs = %.0f msgs/s, p50 %.1fµs, p99 %.1fµs, generator CPU %.0f%%, %d I/O errors, %d mismatches\n",
		res.Mode, res.Conns, res.DialErrors, res.Msgs, res.Seconds, res.MsgsPerSec, res.P50us, res.P99us, res.CPUBusy, res.Errors, res.Mismatches)
	if err != nil {
		return fmt.Errorf("%s run: %w", cfg.Mode, err)
	}
	return nil
}
