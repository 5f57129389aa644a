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
	"fmt"
	"time"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/runner"
)

type options struct {
	runner.Flags
	conns     int
	batch     int
	idleConns int
	settle    time.Duration
}

// subcommands are the hidden entry points benchrun starts itself with.
var subcommands = map[string]func(args []string) error{
	"gnetecho": func(args []string) error { return echoserver.Main("gnet", args) },
	"netecho":  func(args []string) error { return echoserver.Main("net", args) },
	"loadgen":  loadgen.Main,
}

var allServers = []string{"workermand", "gnet", "net"}

func main() {
	runner.Main("benchrun", subcommands, parseFlags, run,
		"some measurements failed or saw errors (see the 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("benchrun", runner.FlagSpec{
		WorkermandCmd: "{workermand} serve --listen text://{addr} --handler echo",
		WorkermandCmdHelp: "command line that starts workermand, split like a shell does (quotes work); {workermand} is -workermand, {addr} host:port, {port} the port,\n" +
			"{self} this program (e.g. '{self} netecho -addr {addr}' to try the harness without workermand)",
		Servers:   allServers,
		Quick:     map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms", "idle": "2000"},
		QuickHelp: "smoke run: 1 round, 2s windows, 0.5s warm-up, 2000 idle connections\n(explicit -rounds, -duration, -warmup, -idle still win)",
	})
	fs.IntVar(&o.conns, "conns", 100, "connections for reqresp and pipelined")
	fs.IntVar(&o.batch, "batch", 32, "lines per write in pipelined mode")
	fs.IntVar(&o.idleConns, "idle", 10000, "connections held open for the memory test")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause before each RSS reading")
	if err := o.Parse(args); err != nil {
		return o, err
	}
	if o.conns < 1 || o.batch < 1 || o.idleConns < 1 {
		return o, fmt.Errorf("need at least one connection, batch line and idle connection")
	}
	return o, nil
}

// serverArgv returns the command line that starts server name on addr,
// and the environment it needs on top of ours.
func (o options) serverArgv(self, name, addr string) (argv, env []string, err error) {
	switch name {
	case "gnet", "net":
		// The reference servers are meant to use one core: say so
		// explicitly rather than rely on the runtime reading the affinity.
		return []string{self, name + "echo", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
	}
	argv, err = runner.WorkermandArgv(o.WorkermandCmd, o.Workermand, self, addr, nil)
	return argv, nil, err // workermand sizes itself
}
