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
	"fmt"
	"strings"
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
	runner.Flags
	workermandStaticCmd string
	nginx               string
	wrk                 string
	tests               []string
	depth               int
	quietWait           time.Duration
	maxOther            float64
}

var allServers = []string{"workermand", "gnet", "nginx", "net"}

func main() {
	runner.Main("httpbench", subcommands, parseFlags, run, "some measurements failed (FAIL cells, 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("httpbench", runner.FlagSpec{
		WorkermandCmd: `{workermand} serve --listen http://{addr} --handler respond --options 'body = "Hello, World!"'`,
		WorkermandCmdHelp: "command line that starts workermand for the hello-world tests, split like a shell does (quotes work);\n" +
			"{workermand} is -workermand, {addr} host:port, {port} the port, {self} this program\n" +
			"(e.g. '{self} nethttp -addr {addr}' to try the harness without workermand)",
		Servers:      allServers,
		Load:         "wrk",
		RoundsHelp:   "rounds; each runs every server once per test group and the table shows medians",
		DurationHelp: "measured wrk run per test, whole seconds (wrk's -d)",
		WarmupHelp:   "unmeasured wrk run before each measured one, whole seconds; 0 for none",
		Quick:        map[string]string{"rounds": "1", "duration": "2s", "warmup": "1s"},
		QuickHelp:    "smoke run: 1 round, 2s windows, 1s warm-up (explicit -rounds, -duration, -warmup still win)",
	})
	fs.StringVar(&o.workermandStaticCmd, "workermand-static-cmd",
		`{workermand} serve --listen http://{addr} --handler static --options 'root = "{dir}"'`,
		"command line that starts workermand for the static-file tests; {dir} is the directory with the files")
	fs.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "`path` of nginx (skipped with a note if missing)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "`path` of wrk")
	tests := fs.String("tests", strings.Join(testNames(), ","), "comma-separated tests to run")
	fs.IntVar(&o.depth, "depth", 16, "requests per write in the pipelined test")
	fs.DurationVar(&o.quietWait, "quiet-wait", 20*time.Second,
		"before each test, wait up to this long for the two cores to be nearly idle (other tenants); 0 to not wait")
	fs.Float64Var(&o.maxOther, "max-other", 20,
		"measure again (twice at most, keeping the quietest) when other work used more than this % of a core during the run")
	if err := o.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.tests, err = runner.ParseList(*tests, testNames(), "test"); err != nil {
		return o, err
	}
	switch {
	case o.depth < 1:
		return o, fmt.Errorf("-depth must be at least 1")
	case o.Duration < time.Second || o.Duration%time.Second != 0:
		return o, fmt.Errorf("-duration %s: wrk takes whole seconds, at least 1", o.Duration)
	case o.Warmup < 0 || o.Warmup%time.Second != 0:
		return o, fmt.Errorf("-warmup %s: wrk takes whole seconds", o.Warmup)
	}
	return o, nil
}
