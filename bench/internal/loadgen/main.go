package loadgen

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

// Main is the load generator's command line. It prints the events (see the
// package doc) and finally one line "RESULT <json>" on stdout, and a human
// summary on stderr. SIGTERM or SIGINT ends an idle hold (and
// cuts any other run short).
func Main(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	cfg := Config{Events: os.Stdout}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9000", "server `host:port` (keep it on loopback)")
	fs.StringVar(&cfg.Mode, "mode", ReqResp, "reqresp: one line in flight per connection; pipelined: -batch lines per write; idle: open -conns connections and hold them")
	fs.IntVar(&cfg.Conns, "conns", 0, "connections (default 100, or 10000 in idle mode)")
	fs.IntVar(&cfg.Size, "size", 64, "bytes per line including the '\\n'")
	fs.IntVar(&cfg.Batch, "batch", 32, "pipelined: lines written per batch")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured lead-in before the window")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured window")
	fs.DurationVar(&cfg.Hold, "hold", time.Minute, "idle: hold the connections at most this long")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 5*time.Second, "timeout per connection attempt (and its first echo in idle mode)")
	fs.DurationVar(&cfg.IOTimeout, "io-timeout", 5*time.Second, "how long a reply may still take after the window ends")
	fs.IntVar(&cfg.DialParallel, "dial-parallel", 100, "connection attempts in flight at once")
	fs.DurationVar(&cfg.ConnectIn, "connect-within", time.Minute, "give up opening connections after this long")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("loadgen flags: %w", err)
	}
	if cfg.Conns == 0 {
		cfg.Conns = 100
		if cfg.Mode == Idle {
			cfg.Conns = 10000
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The whole run is bounded even if the server hangs.
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
	fmt.Fprintf(os.Stderr, "%s: %d conns (%d failed to connect), %d msgs in %.2fs = %.0f msgs/s", res.Mode,
		res.Conns, res.DialErrors, res.Msgs, res.Seconds, res.MsgsPerSec)
	if res.Mode == ReqResp {
		fmt.Fprintf(os.Stderr, ", p50 %.1fµs, p99 %.1fµs", res.P50us, res.P99us)
	}
	fmt.Fprintf(os.Stderr, ", generator CPU %.0f%%, %d I/O errors, %d mismatches\n", res.CPUBusy, res.Errors, res.Mismatches)
	if err != nil {
		return fmt.Errorf("%s run: %w", cfg.Mode, err)
	}
	return nil
}
