// Command idlebench measures what workermand costs at rest: garbage
// collections, CPU and memory of an idle master and its children, and the
// memory each idle connection holds in a daemon child, next to gnet
// holding the same connections.
//
//	go run ./cmd/idlebench -workermand ../bin/workermand
//	go run ./cmd/idlebench -quick
//
// Like benchrun it carries gnet's echo server and the load generator as
// hidden subcommands and starts them by re-running itself.
package main

import (
	"flag"
	"time"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/runner"
)

type options struct {
	workermand string
	rounds     int
	window     time.Duration // the at-rest measuring window
	settleRest time.Duration // pause between start-up and the window
	conns      int
	settle     time.Duration // pause between the last connection and the RSS reading
	out        string
}

var subcommands = map[string]func(args []string) error{
	"gnetecho": func(args []string) error { return echoserver.Main("gnet", args) },
	"loadgen":  loadgen.Main,
}

func main() {
	runner.Main("idlebench", subcommands, parseFlags, run, "")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("idlebench", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; the table shows medians")
	fs.DurationVar(&o.window, "window", 8*time.Second, "at rest: the measured window")
	fs.DurationVar(&o.settleRest, "rest", 3*time.Second, "at rest: pause after start-up before the window")
	fs.IntVar(&o.conns, "conns", 10000, "idle connections held in one child (and in gnet)")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "idle connections: pause after the last one opened before reading RSS")
	quick := fs.Bool("quick", false, "1 round, 4 s window, 2,000 connections (explicit flags win)")
	fs.StringVar(&o.out, "out", "", "also write the table to this `file`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *quick {
		if err := runner.Quick(fs, map[string]string{"rounds": "1", "window": "4s", "conns": "2000"}); err != nil {
			return o, err
		}
	}
	var err error
	o.workermand, err = runner.WorkermandBin(o.workermand)
	return o, err
}
