// Command wsbench compares workermand's websocket echo with reference
// websocket echo servers (gorilla/websocket on net/http, and a minimal one
// on a single gnet v2 loop) on one machine, in one run.
//
// Each server runs pinned to one CPU and the load generator to another;
// every round runs every server once, in turn, and the table reports the
// medians over rounds. See README.md for what is measured and why.
//
//	go run ./cmd/wsbench -workermand ../bin/workermand
//	go run ./cmd/wsbench -quick -servers gorilla,gnet
//
// wsbench carries the reference servers and the generator as hidden
// subcommands (wsgorilla, wsgnet, wsload) and starts them by re-running its
// own executable, so one build is all it needs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsload"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

var subcommands = map[string]func(args []string) error{
	"wsgorilla": func(args []string) error { return wsserver.Main("gorilla", args) },
	"wsgnet":    func(args []string) error { return wsserver.Main("gnet", args) },
	"wsload":    wsload.Main,
}

var allServers = []string{"workermand", "gorilla", "gnet"}

type options struct {
	workermand    string
	workermandCmd string
	servers       []string
	rounds        int
	duration      time.Duration
	warmup        time.Duration
	conns         int
	size          int
	text          bool
	idleConns     int
	settle        time.Duration
	quietWait     time.Duration
	maxOther      float64
	serverCPU     int
	loadCPU       int
	out           string
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
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	ok, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "wsbench: some measurements failed (see the 'failed measurements' row)")
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.StringVar(&o.workermandCmd, "workermand-cmd", "{workermand} serve --listen websocket://{addr} --handler echo",
		"command line that starts workermand, split on spaces; {workermand} is -workermand, {addr} host:port, {port} the port,\n"+
			"{self} this program (e.g. '{self} wsgnet -addr {addr}' to try the harness without workermand)")
	servers := fs.String("servers", strings.Join(allServers, ","), "comma-separated servers to run, in order; ratios are to the first")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every server once and the table shows medians")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured window of each throughput test (≥3s keeps the 10ms CPU tick error small)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured lead-in before each window")
	fs.IntVar(&o.conns, "conns", 100, "connections for the echo test")
	fs.IntVar(&o.size, "size", 64, "payload bytes per message")
	fs.BoolVar(&o.text, "text", false, "text messages (default binary)")
	fs.IntVar(&o.idleConns, "idle", 10000, "websocket connections held open for the memory test")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause before each RSS reading")
	fs.DurationVar(&o.quietWait, "quiet-wait", 20*time.Second,
		"before each echo test, wait up to this long for the two cores to be nearly idle (other tenants); 0 to not wait")
	fs.Float64Var(&o.maxOther, "max-other", 20,
		"measure the echo test again (twice at most, keeping the quietest) when other work used more than this % of a core during it")
	fs.IntVar(&o.serverCPU, "server-cpu", 1, "CPU the server is pinned to")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU the load generator is pinned to")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to this `file`")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 2s windows, 0.5s warm-up\n(explicit -rounds, -duration, -warmup still win)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick { // only where no explicit flag says otherwise
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, val := range map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms"} {
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
		case !slices.Contains(allServers, s):
			return o, fmt.Errorf("unknown server %q (want one of %s)", s, strings.Join(allServers, ", "))
		case slices.Contains(o.servers, s):
			return o, fmt.Errorf("server %q listed twice", s)
		}
		o.servers = append(o.servers, s)
	}
	switch {
	case o.rounds < 1 || o.conns < 1 || o.size < 1 || o.idleConns < 1:
		return o, fmt.Errorf("-rounds, -conns, -size and -idle must be at least 1")
	case o.serverCPU == o.loadCPU:
		return o, fmt.Errorf("-server-cpu and -load-cpu are both %d: they must differ", o.serverCPU)
	}
	return o, nil
}

// serverArgv returns the command line that starts server name on addr, and
// the environment it needs on top of ours.
func (o options) serverArgv(self, name, addr string) (argv, env []string) {
	switch name {
	case "gorilla", "gnet":
		// The references are meant to use one core: say so explicitly
		// rather than rely on the runtime reading the affinity mask.
		return []string{self, "ws" + name, "-addr", addr}, []string{"GOMAXPROCS=1"}
	}
	_, port, _ := strings.Cut(addr, ":")
	r := strings.NewReplacer("{workermand}", o.workermand, "{self}", self, "{addr}", addr, "{port}", port)
	return strings.Fields(r.Replace(o.workermandCmd)), nil // workermand sizes itself
}
