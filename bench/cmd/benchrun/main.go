// Command benchrun compares workermand with two reference line-echo servers
// (gnet v2 single loop, and goroutine-per-connection net) on one machine.
//
// Each server runs pinned to one CPU and the load generator to another;
// every round runs every server once, in turn, and the table reports the
// medians over rounds. See README.md for what is measured and why.
//
//	go run ./cmd/benchrun -workermand ../bin/workermand
//	go run ./cmd/benchrun -quick
//
// benchrun also carries the servers and the generator as hidden
// subcommands (gnetecho, netecho, loadgen) and starts them by re-running
// its own executable, so one build is all it needs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/runner"
)

type options struct {
	workermand    string
	workermandCmd string
	servers       []string
	rounds        int
	duration      time.Duration
	warmup        time.Duration
	conns         int
	batch         int
	idleConns     int
	settle        time.Duration
	serverCPU     int
	loadCPU       int
	out           string
}

// subcommands are the hidden entry points benchrun starts itself with.
var subcommands = map[string]func(args []string) error{
	"gnetecho": func(args []string) error { return echoserver.Main("gnet", args) },
	"netecho":  func(args []string) error { return echoserver.Main("net", args) },
	"loadgen":  loadgen.Main,
}

func main() {
	if runner.RunSubcommand(subcommands) {
		return
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "benchrun: some measurements failed or saw errors (see the 'failed measurements' row)")
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.StringVar(&o.workermandCmd, "workermand-cmd", "{workermand} serve --listen text://{addr} --handler echo",
		"command line that starts workermand, split on spaces; {workermand} is -workermand, {addr} host:port, {port} the port,\n"+
			"{self} this program (e.g. '{self} netecho -addr {addr}' to try the harness without workermand)")
	servers := fs.String("servers", "workermand,gnet,net", "comma-separated servers to run, in order; ratios are to the first")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every server once and the table shows medians")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured window per throughput test (≥3s keeps the 10ms CPU tick error small)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured lead-in before each window")
	fs.IntVar(&o.conns, "conns", 100, "connections for reqresp and pipelined")
	fs.IntVar(&o.batch, "batch", 32, "lines per write in pipelined mode")
	fs.IntVar(&o.idleConns, "idle", 10000, "connections held open for the memory test")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause before each RSS reading")
	fs.IntVar(&o.serverCPU, "server-cpu", 1, "CPU the server is pinned to")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU the load generator is pinned to")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to this `file`")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 2s windows, 0.5s warm-up, 2000 idle connections\n(explicit -rounds, -duration, -warmup, -idle still win)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick { // only where no explicit flag says otherwise
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, val := range map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms", "idle": "2000"} {
			if !set[name] {
				if err := fs.Set(name, val); err != nil {
					return o, fmt.Errorf("quick %s: %w", name, err)
				}
			}
		}
	}
	for s := range strings.SplitSeq(*servers, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s != "workermand" && s != "gnet" && s != "net":
			return o, fmt.Errorf("unknown server %q (want workermand, gnet or net)", s)
		case slices.Contains(o.servers, s):
			return o, fmt.Errorf("server %q listed twice", s)
		}
		o.servers = append(o.servers, s)
	}
	if len(o.servers) == 0 || o.rounds < 1 || o.conns < 1 || o.batch < 1 || o.idleConns < 1 {
		return o, fmt.Errorf("need at least one server, round, connection, batch line and idle connection")
	}
	return o, nil
}

// serverArgv returns the command line that starts server name on addr,
// and the environment it needs on top of ours.
func (o options) serverArgv(self, name, addr string) (argv, env []string) {
	switch name {
	case "gnet", "net":
		// The reference servers are meant to use one core: say so
		// explicitly rather than rely on the runtime reading the affinity.
		return []string{self, name + "echo", "-addr", addr}, []string{"GOMAXPROCS=1"}
	}
	_, port, _ := strings.Cut(addr, ":")
	r := strings.NewReplacer("{workermand}", o.workermand, "{self}", self, "{addr}", addr, "{port}", port)
	return strings.Fields(r.Replace(o.workermandCmd)), nil // workermand sizes itself
}

// preflight fails early, with a hint, when a tool or binary is missing.
func (o options) preflight(self string) error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset (util-linux) is needed to pin processes: %w", err)
	}
	for _, s := range o.servers {
		argv, _ := o.serverArgv(self, s, "127.0.0.1:1")
		if len(argv) == 0 {
			return fmt.Errorf("-workermand-cmd is empty")
		}
		if _, err := exec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("%s: %w (build it with `go build -o bin/workermand ./cmd/workermand` in the project root, or use -servers gnet,net)", s, err)
		}
	}
	return nil
}
