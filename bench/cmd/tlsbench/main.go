// Command tlsbench compares workermand's TLS and UDP servers with
// references, on one machine, in one run (issue 11's benchmark):
//
//   - https: workermand (master + 1 child, an https:// worker with the
//     respond handler) against nginx (master + 1 worker), the same
//     ECDSA P-256 certificate made at run time: keep-alive server CPU per
//     request and new-connection server CPU per connection under wrk, and
//     RSS per idle TLS connection;
//   - wss: workermand's wss:// echo against gorilla/websocket on
//     net/http's crypto/tls;
//   - udp: workermand's udp:// echo against gnet's UDP loop.
//
// Every TLS client offers X25519 only, so every server runs the same key
// exchange. Each server is pinned to one CPU and the load to the other;
// each round runs every test against every server in turn, and the
// tables show medians over rounds with ratios to workermand.
//
//	go run ./cmd/tlsbench -workermand ../bin/workermand
//	go run ./cmd/tlsbench -quick -groups https
//
// tlsbench carries the Go reference servers and generators as hidden
// subcommands and starts them by re-running its own executable.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/tlsload"
	"github.com/workermand/workermand/bench/internal/wsload"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

var subcommands = map[string]func(args []string) error{
	"wsgorilla": func(args []string) error { return wsserver.Main("gorilla", args) },
	"gnetudp":   func(args []string) error { return echoserver.Main("gnetudp", args) },
	"wsload":    wsload.Main,
	"tlsload":   tlsload.Main,
	"udpload":   loadgen.UDPMain,
}

var allGroups = []string{"https", "wss", "udp"}

type options struct {
	workermand string
	nginx      string
	wrk        string
	groups     []string
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	conns      int
	idle       int
	settle     time.Duration
	quietWait  time.Duration
	maxOther   float64
	serverCPU  int
	loadCPU    int
	out        string
}

func main() {
	runner.Main("tlsbench", subcommands, parseFlags, run, "some measurements failed (see the 'failed measurements' rows)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("tlsbench", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "`path` of nginx (apt-get install nginx)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "`path` of wrk")
	groups := fs.String("groups", "https,wss,udp", "comma-separated test groups to run")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every test against every server and the tables show medians")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "each measured run (whole seconds: wrk's -d)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured run before each measured one (whole seconds); 0 for none")
	fs.IntVar(&o.conns, "conns", 100, "connections (sockets for udp) of the throughput tests")
	fs.IntVar(&o.idle, "idle", 5000, "idle TLS connections for the memory test")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "pause after the last idle connection opened, before reading RSS")
	fs.DurationVar(&o.quietWait, "quiet-wait", 10*time.Second,
		"before each throughput test, wait up to this long for the two cores to be nearly idle; 0 to not wait")
	fs.Float64Var(&o.maxOther, "max-other", 20,
		"measure a throughput test again (twice at most, keeping the quietest) when other work used more than this % of a core during it")
	fs.IntVar(&o.serverCPU, "server-cpu", 1, "CPU the servers are pinned to")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU wrk and the generators are pinned to")
	fs.StringVar(&o.out, "out", "", "also write the tables to this `file`")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 2s runs, 1,000 idle connections, 2s settle (explicit flags win)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		if err := runner.Quick(fs, map[string]string{"rounds": "1", "duration": "2s", "idle": "1000", "settle": "2s"}); err != nil {
			return o, err
		}
	}
	var err error
	if o.groups, err = runner.ParseList(*groups, allGroups, "group"); err != nil {
		return o, err
	}
	switch {
	case o.rounds < 1, o.conns < 1, o.idle < 1:
		return o, fmt.Errorf("-rounds, -conns and -idle must be at least 1")
	case o.duration < time.Second || o.duration%time.Second != 0:
		return o, fmt.Errorf("-duration %s: wrk takes whole seconds, at least 1", o.duration)
	case o.warmup < 0 || o.warmup%time.Second != 0:
		return o, fmt.Errorf("-warmup %s: wrk takes whole seconds", o.warmup)
	case o.serverCPU == o.loadCPU:
		return o, fmt.Errorf("-server-cpu and -load-cpu are both %d: they must differ", o.serverCPU)
	}
	if o.workermand, err = filepath.Abs(o.workermand); err == nil {
		_, err = os.Stat(o.workermand)
	}
	if err != nil {
		return o, fmt.Errorf("workermand: %w (build it with `go build -o bin/workermand ./cmd/workermand` in the project root)", err)
	}
	return o, nil
}
