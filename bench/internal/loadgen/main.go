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
	cfg := Config{}
	return Command("loadgen", args, &cfg, Help{
		Mode:        "reqresp: one line in flight per connection; pipelined: -batch lines per write; idle: open -conns connections and hold them",
		Size:        "bytes per line including the '\\n'",
		DialTimeout: "timeout per connection attempt (and its first echo in idle mode)",
	}, func(fs *flag.FlagSet) {
		fs.IntVar(&cfg.Batch, "batch", 32, "pipelined: lines written per batch")
	}, func(ctx context.Context) (Result, error) { return Run(ctx, cfg) })
}

// Help holds the help texts of the shared flags whose meaning depends on
// the protocol.
type Help struct{ Mode, Size, DialTimeout string }

// Command is a generator's command line: the flags every generator takes
// (into cfg) and those flags adds, the defaults, a bound on the whole run,
// then run, the RESULT line on stdout and a summary on stderr.
func Command(name string, args []string, cfg *Config, help Help, flags func(*flag.FlagSet), run func(context.Context) (Result, error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.Events = os.Stdout
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9000", "server `host:port` (keep it on loopback)")
	fs.StringVar(&cfg.Mode, "mode", ReqResp, help.Mode)
	fs.IntVar(&cfg.Conns, "conns", 0, "connections (default 100, or 10000 in idle mode)")
	fs.IntVar(&cfg.Size, "size", 64, help.Size)
	flags(fs)
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured lead-in before the window")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured window")
	fs.DurationVar(&cfg.Hold, "hold", time.Minute, "idle: hold the connections at most this long")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 5*time.Second, help.DialTimeout)
	fs.DurationVar(&cfg.IOTimeout, "io-timeout", 5*time.Second, "how long a reply may still take after the window ends")
	fs.IntVar(&cfg.DialParallel, "dial-parallel", 100, "connection attempts in flight at once")
	fs.DurationVar(&cfg.ConnectIn, "connect-within", time.Minute, "give up opening connections after this long")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s flags: %w", name, err)
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

	res, err := run(ctx)
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

// ParseResult decodes a generator's RESULT payload; any I/O error,
// mismatched echo or failed connect makes it an error, as it fails the
// measurement.
func ParseResult(out string) (Result, error) {
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return res, fmt.Errorf("decode generator result: %w", err)
	}
	if n := res.Errors + res.Mismatches + uint64(res.DialErrors); n > 0 {
		return res, fmt.Errorf("%d I/O errors, %d mismatched echoes, %d failed connects",
			res.Errors, res.Mismatches, res.DialErrors)
	}
	return res, nil
}
