// Command scalebench measures workermand holding many idle websockets at
// once: how fast the daemon sets them up, the memory each costs a child
// once the daemon has settled, how long `status` and `connections --json`
// take with all of them open, and that no process goes past its
// descriptor limit; then, for comparison, one child and a minimal gnet
// websocket server holding -compare connections each.
//
//	go run ./cmd/scalebench -workermand ../bin/workermand              # 100,000 connections
//	go run ./cmd/scalebench -workermand ../bin/workermand -conns 1000000   # on a bigger machine
//	go run ./cmd/scalebench -quick
//
// The same command serves both sizes: the worker processes, the loopback
// destination addresses (one worker per process on 127.0.0.k), the source
// addresses and the load processes come from the open-files limit, the
// local port range and -conns (see plan.go). Like the other drivers it
// carries its load process ("hold") and gnet's websocket server as hidden
// subcommands and starts them by re-running itself.
package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

type options struct {
	workermand string
	conns      int
	procs      int
	loaders    int
	parallel   int           // connection attempts in flight per load process
	settle     time.Duration // the longest wait for memory to settle
	compare    int           // connections for the one-child and gnet comparison; 0 skips it
	repeat     int           // readings of each command's latency
	out        string
}

var subcommands = map[string]func(args []string) error{
	"hold":   holdMain,
	"wsgnet": func(args []string) error { return wsserver.Main("gnet", args) },
}

func main() {
	runner.Main("scalebench", subcommands, parseFlags, run, "a goal was missed or a check failed")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("scalebench", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.IntVar(&o.conns, "conns", 100000, "idle websocket connections held by the daemon at once")
	fs.IntVar(&o.procs, "procs", 0, "worker processes; 0 derives them from the open-files limit and the cores")
	fs.IntVar(&o.loaders, "loaders", 0, "load processes; 0 derives them like -procs")
	fs.IntVar(&o.parallel, "parallel", 32, "connection attempts in flight per load process")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "longest wait for the processes' memory to settle")
	fs.IntVar(&o.compare, "compare", 10000, "connections for the one child against gnet comparison; 0 skips it")
	fs.IntVar(&o.repeat, "repeat", 3, "times each command is timed (the table shows the median)")
	quick := fs.Bool("quick", false, "4,000 connections, 2,000 compared (explicit flags win)")
	fs.StringVar(&o.out, "out", "", "also write the table to this `file`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *quick {
		if err := runner.Quick(fs, map[string]string{"conns": "4000", "compare": "2000", "settle": "10s"}); err != nil {
			return o, err
		}
	}
	if o.repeat < 1 || o.parallel < 1 {
		return o, fmt.Errorf("-repeat and -parallel must be at least 1")
	}
	var err error
	o.workermand, err = runner.WorkermandBin(o.workermand)
	return o, err
}
