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
	"fmt"
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
	runner.Flags
	conns     int
	size      int
	text      bool
	idleConns int
	settle    time.Duration
	quietWait time.Duration
	maxOther  float64
}

func main() {
	runner.Main("wsbench", subcommands, parseFlags, run, "some measurements failed (see the 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("wsbench", runner.FlagSpec{
		WorkermandCmd: "{workermand} serve --listen websocket://{addr} --handler echo",
		WorkermandCmdHelp: "command line that starts workermand, split like a shell does (quotes work); {workermand} is -workermand, {addr} host:port, {port} the port,\n" +
			"{self} this program (e.g. '{self} wsgnet -addr {addr}' to try the harness without workermand)",
		Servers:   allServers,
		Quick:     map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms"},
		QuickHelp: "smoke run: 1 round, 2s windows, 0.5s warm-up\n(explicit -rounds, -duration, -warmup still win)",
	})
	fs.IntVar(&o.conns, "conns", 100, "connections for the echo test")
	fs.IntVar(&o.size, "size", 64, "payload bytes per message")
	fs.BoolVar(&o.text, "text", false, "text messages (default binary)")
	fs.IntVar(&o.idleConns, "idle", 10000, "websocket connections held open for the memory test")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause before each RSS reading")
	fs.DurationVar(&o.quietWait, "quiet-wait", 20*time.Second,
		"before each echo test, wait up to this long for the two cores to be nearly idle (other tenants); 0 to not wait")
	fs.Float64Var(&o.maxOther, "max-other", 20,
		"measure the echo test again (twice at most, keeping the quietest) when other work used more than this % of a core during it")
	if err := o.Parse(args); err != nil {
		return o, err
	}
	if o.conns < 1 || o.size < 1 || o.idleConns < 1 {
		return o, fmt.Errorf("-conns, -size and -idle must be at least 1")
	}
	return o, nil
}

// serverArgv returns the command line that starts server name on addr, and
// the environment it needs on top of ours.
func (o options) serverArgv(self, name, addr string) (argv, env []string, err error) {
	switch name {
	case "gorilla", "gnet":
		// The references are meant to use one core: say so explicitly
		// rather than rely on the runtime reading the affinity mask.
		return []string{self, "ws" + name, "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
	}
	argv, err = runner.WorkermandArgv(o.WorkermandCmd, o.Workermand, self, addr, nil)
	return argv, nil, err // workermand sizes itself
}
