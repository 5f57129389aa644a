// Command httpbench compares workermand's HTTP server with reference
// "hello world" servers (a gnet v2 single loop, nginx with one worker, Go
// net/http) using wrk, on one machine, in one run.
//
// Each server runs pinned to one CPU and wrk to another; every round runs
// every server once per test group, in turn, and the table reports the
// medians over rounds. See README.md for what is measured and why.
//
//	go run ./cmd/httpbench -workermand ../bin/workermand
//	go run ./cmd/httpbench -quick -servers gnet,nginx,net
//
// httpbench carries the two Go servers as hidden subcommands (gnethttp,
// nethttp) and starts them by re-running its own executable.
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

	"github.com/workermand/workermand/bench/internal/httpserver"
	"github.com/workermand/workermand/bench/internal/runner"
)

// subcommands are the hidden entry points httpbench starts itself with.
var subcommands = map[string]func(args []string) error{
	"gnethttp": func(args []string) error { return httpserver.Main("gnet", args) },
	"nethttp":  func(args []string) error { return httpserver.Main("net", args) },
}

type options struct {
	workermand          string
	workermandCmd       string
	workermandStaticCmd string
	nginx               string
	wrk                 string
	servers             []string
	tests               []string
	rounds              int
	duration            time.Duration
	warmup              time.Duration
	depth               int
	quietWait           time.Duration
	maxOther            float64
	serverCPU           int
	loadCPU             int
	out                 string
}

var allServers = []string{"workermand", "gnet", "nginx", "net"}

func main() {
	if runner.RunSubcommand(subcommands) {
		return
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	ok, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "httpbench: some measurements failed (FAIL cells, 'failed measurements' row)")
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("httpbench", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.StringVar(&o.workermandCmd, "workermand-cmd",
		`{workermand} serve --listen http://{addr} --handler respond --options 'body = "Hello, World!"'`,
		"command line that starts workermand for the hello-world tests, split like a shell does (quotes work);\n"+
			"{workermand} is -workermand, {addr} host:port, {port} the port, {self} this program\n"+
			"(e.g. '{self} nethttp -addr {addr}' to try the harness without workermand)")
	fs.StringVar(&o.workermandStaticCmd, "workermand-static-cmd",
		`{workermand} serve --listen http://{addr} --handler static --options 'root = "{dir}"'`,
		"command line that starts workermand for the static-file tests; {dir} is the directory with the files")
	fs.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "`path` of nginx (skipped with a note if missing)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "`path` of wrk")
	servers := fs.String("servers", strings.Join(allServers, ","), "comma-separated servers to run, in order; ratios are to the first")
	tests := fs.String("tests", strings.Join(testNames(), ","), "comma-separated tests to run")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every server once per test group and the table shows medians")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured wrk run per test, whole seconds (wrk's -d)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured wrk run before each measured one, whole seconds; 0 for none")
	fs.IntVar(&o.depth, "depth", 16, "requests per write in the pipelined test")
	fs.DurationVar(&o.quietWait, "quiet-wait", 20*time.Second,
		"before each test, wait up to this long for the two cores to be nearly idle (other tenants); 0 to not wait")
	fs.Float64Var(&o.maxOther, "max-other", 20,
		"measure again (twice at most, keeping the quietest) when other work used more than this % of a core during the run")
	fs.IntVar(&o.serverCPU, "server-cpu", 1, "CPU the server is pinned to")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU wrk is pinned to")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to this `file`")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 2s windows, 1s warm-up (explicit -rounds, -duration, -warmup still win)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick { // only where no explicit flag says otherwise
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, val := range map[string]string{"rounds": "1", "duration": "2s", "warmup": "1s"} {
			if !set[name] {
				if err := fs.Set(name, val); err != nil {
					return o, fmt.Errorf("quick %s: %w", name, err)
				}
			}
		}
	}
	var err error
	if o.servers, err = parseList(*servers, allServers, "server"); err != nil {
		return o, err
	}
	if o.tests, err = parseList(*tests, testNames(), "test"); err != nil {
		return o, err
	}
	switch {
	case o.rounds < 1 || o.depth < 1:
		return o, fmt.Errorf("-rounds and -depth must be at least 1")
	case o.duration < time.Second || o.duration%time.Second != 0:
		return o, fmt.Errorf("-duration %s: wrk takes whole seconds, at least 1", o.duration)
	case o.warmup < 0 || o.warmup%time.Second != 0:
		return o, fmt.Errorf("-warmup %s: wrk takes whole seconds", o.warmup)
	case o.serverCPU == o.loadCPU:
		return o, fmt.Errorf("-server-cpu and -load-cpu are both %d: they must differ", o.serverCPU)
	}
	return o, nil
}

// parseList splits a comma-separated list and checks every item is known
// and listed once.
func parseList(s string, known []string, what string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case !slices.Contains(known, item):
			return nil, fmt.Errorf("unknown %s %q (want one of %s)", what, item, strings.Join(known, ", "))
		case slices.Contains(out, item):
			return nil, fmt.Errorf("%s %q listed twice", what, item)
		}
		out = append(out, item)
	}
	return out, nil
}
