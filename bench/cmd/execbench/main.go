// Command execbench measures what the exec handler costs: websocket echo
// through a program of the user's (the Go and PHP example programs of
// examples/exec) against the in-process echo handler, on one machine, in
// one run.
//
// Each server is `workermand serve` on a websocket:// address, pinned to
// one CPU with the program it runs (the affinity is inherited), and the
// load generator (wsload, N connections each sending a message and waiting
// for its echo) to another; servers alternate within each round and the
// table holds the medians over rounds, with ratios to the first server.
// Server CPU is the daemon's process tree: the program included.
//
//	go run ./cmd/execbench -workermand ../bin/workermand
//	go run ./cmd/execbench -quick
//
// The Go program (examples/exec/gochat, whose unknown messages are echoed)
// is built into a temporary directory from ../examples unless -gochat names
// a binary; the PHP one is examples/exec/echo.php under php-cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsload"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

var subcommands = map[string]func(args []string) error{
	"wsload": wsload.Main,
}

var allServers = []string{"echo", "exec-go", "exec-php"}

// mOther is the metric of the CPU other tenants used during a window.
const mOther = "other"

type options struct {
	runner.Flags
	conns  int
	size   int
	gochat string
	php    string
	script string
	queue  int

	quietWait time.Duration
	maxOther  float64
}

func main() {
	runner.Main("execbench", subcommands, parseFlags, run, "some measurements failed (see the 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("execbench", runner.FlagSpec{
		WorkermandCmd:     "{workermand} serve --listen websocket://{addr} --handler echo",
		WorkermandCmdHelp: "command line of the echo server; the exec ones are the same binary with --handler exec",
		Servers:           allServers,
		Quick:             map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms"},
		QuickHelp:         "smoke run: 1 round, 2s windows, 0.5s warm-up",
	})
	fs.IntVar(&o.conns, "conns", 100, "websocket connections, each with one message in flight")
	fs.IntVar(&o.size, "size", 64, "payload bytes per (text) message")
	fs.StringVar(&o.gochat, "gochat", "", "`path` of a built examples/exec/gochat (default: built from ../examples)")
	fs.StringVar(&o.php, "php", "php", "php-cli `binary`")
	fs.StringVar(&o.script, "script", "../examples/exec/echo.php", "the PHP echo program")
	fs.IntVar(&o.queue, "queue-bytes", 0, "the exec handler's queue_bytes (0: its default)")
	fs.DurationVar(&o.quietWait, "quiet-wait", 10*time.Second,
		"before each window, wait up to this long for the two cores to be nearly idle (other tenants); 0 to not wait")
	fs.Float64Var(&o.maxOther, "max-other", 20,
		"measure again (twice at most, keeping the quietest) when other work used more than this % of a core during a window")
	if err := o.Parse(args); err != nil {
		return o, err
	}
	if o.conns < 1 || o.size < 17 {
		return o, fmt.Errorf("-conns must be at least 1 and -size at least 17")
	}
	return o, nil
}

// serverArgv is the command line of server on addr.
func (o options) serverArgv(self, server, addr string) ([]string, []string, error) {
	if server == "echo" {
		argv, err := runner.WorkermandArgv(o.WorkermandCmd, o.Workermand, self, addr, nil)
		return argv, nil, err
	}
	var command []string
	switch server {
	case "exec-go":
		command = []string{o.gochat}
	case "exec-php":
		command = []string{o.php, o.script}
	default:
		return nil, nil, fmt.Errorf("unknown server %q", server)
	}
	opts := "command = ["
	for i, a := range command {
		if i > 0 {
			opts += ", "
		}
		opts += strconv.Quote(a)
	}
	opts += "]"
	if o.queue > 0 {
		opts += "\nqueue_bytes = " + strconv.Itoa(o.queue)
	}
	return []string{o.Workermand, "serve", "--listen", "websocket://" + addr, "--handler", "exec", "--options", opts}, nil, nil
}

type bench struct {
	options
	self   string
	clkTck int64
	*runner.Comparison
}

func run(ctx context.Context, o options) (bool, error) {
	var err error
	if o.script, err = filepath.Abs(o.script); err != nil {
		return false, err
	}
	if o.gochat == "" {
		dir, err := os.MkdirTemp("", "execbench-")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(dir)
		o.gochat = filepath.Join(dir, "gochat")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.gochat, "./exec/gochat")
		build.Dir = "../examples"
		if out, err := build.CombinedOutput(); err != nil {
			return false, fmt.Errorf("building examples/exec/gochat: %w\n%s", err, out)
		}
	}
	self, err := runner.Preflight(o.Servers, o.serverArgv, "echo")
	if err != nil {
		return false, err
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers)}
	return b.Run(ctx, o.Rounds, o.Out, b.report, b.throughput)
}

// throughput runs one echo window against a fresh server.
func (b *bench) throughput(ctx context.Context, server string) error {
	s, err := runner.Launch(server, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, server, addr)
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	argv := []string{b.self, "wsload", "-size", strconv.Itoa(b.size), "-text"}
	if server == "echo" {
		if err := wsserver.Verify("ws://"+s.Addr+"/", nil); err != nil {
			return fmt.Errorf("echo check: %w; output: %s", err, s.Out)
		}
	} else {
		// The programs greet each client on connect ("hello <conn>")
		// before echoing; every echo is still checked byte for byte.
		argv = append(argv, "-skip-greeting")
	}
	bench := loadgen.Bench{ClkTck: b.clkTck, ServerCPU: b.ServerCPU, LoadCPU: b.LoadCPU, QuietWait: b.quietWait,
		Warmup: b.Warmup, Duration: b.Duration}
	smp, err := runner.Quietest(b.maxOther, func() (loadgen.Sample, error) { return bench.Measure(ctx, s, argv, loadgen.ReqResp, b.conns) },
		func(smp loadgen.Sample) float64 { return smp.Others },
		func(smp loadgen.Sample) {
			runner.Logf("%-10s other work used %.0f%% of a core (over -max-other %.0f): measuring again", server, smp.Others, b.maxOther)
		})
	if err != nil {
		return fmt.Errorf("%w; output: %s", err, s.Out)
	}
	smp.AddRoundTrip(b.Comparison, server, "message")
	if smp.Others >= 0 {
		b.Add(server, mOther, smp.Others)
	}
	return nil
}

func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nMedians of %d round(s); %s windows after %s warm-up; %d websocket connections, %d-byte text messages, one in flight each.\n",
		b.Rounds, b.Duration, b.Warmup, b.conns, b.size)
	fmt.Fprintf(&sb, "echo: the in-process echo handler; exec-go: examples/exec/gochat; exec-php: examples/exec/echo.php (%s).\n", b.php)
	fmt.Fprintf(&sb, "Server (daemon and program) pinned to CPU %d, load generator to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, append(loadgen.RoundTripMetrics("echo msgs/s", "message"),
		runner.Metric{Key: mOther, Label: "other CPU on both cores (%)", Format: "%.0f"}))
	return sb.String()
}
