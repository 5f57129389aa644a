// Command gdbench compares workermand's GlobalData server (the stock
// globaldata handler, Workerman's wire format) with redis-server, on one
// machine, in one run: GET/SET round trips per second.
//
// Each server runs pinned to one CPU (workermand as `serve`: one process,
// one loop; redis-server with persistence off, its own directory) and the
// generator to another; -conns connections each alternate a SET of their
// own key and a GET of it, one request in flight, checking every reply.
// The table reports medians over rounds of round trips per second,
// latency and the server's CPU per round trip, with Redis's figures as a
// ratio to workermand's.
//
//	go run ./cmd/gdbench -workermand ../bin/workermand
//	go run ./cmd/gdbench -quick
//
// The generator is a hidden subcommand (kvload), started by re-running
// this executable.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/workermand/workermand/bench/internal/kvload"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

var subcommands = map[string]func(args []string) error{"kvload": kvload.Main}

var allServers = []string{"workermand", "redis"}

type options struct {
	runner.Flags
	conns int
	size  int
	redis string
}

var metrics = loadgen.RoundTripMetrics("GET+SET round trips/s", "round trip")

func main() {
	runner.Main("gdbench", subcommands, parseFlags, run, "some measurements failed (see the 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("gdbench", runner.FlagSpec{
		WorkermandCmd:     "{workermand} serve --listen frame://{addr} --handler globaldata",
		WorkermandCmdHelp: "command line that starts workermand, split like a shell does (quotes work); {workermand} is -workermand, {addr} host:port, {port} the port",
		Servers:           allServers,
		Quick:             map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms"},
		QuickHelp:         "smoke run: 1 round, 2s windows, 0.5s warm-up\n(explicit -rounds, -duration, -warmup still win)",
	})
	fs.IntVar(&o.conns, "conns", 50, "connections, each with one request in flight")
	fs.IntVar(&o.size, "size", 64, "bytes per value")
	fs.StringVar(&o.redis, "redis-server", "redis-server", "`path` of redis-server")
	if err := o.Parse(args); err != nil {
		return o, err
	}
	if o.conns < 1 || o.size < 20 {
		return o, fmt.Errorf("-conns must be at least 1 and -size at least 20")
	}
	return o, nil
}

type bench struct {
	options
	self   string
	clkTck int64
	dir    string // redis-server's working directory
	*runner.Comparison
}

// serverArgv returns the command line that starts server name on addr.
func (b *bench) serverArgv(self, name, addr string) (argv, env []string, err error) {
	if name == "redis" {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, nil, err
		}
		// No persistence, one I/O thread, its own directory: the store
		// alone, as GlobalData's.
		return []string{b.redis, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
			"--dir", b.dir, "--daemonize", "no", "--io-threads", "1"}, nil, nil
	}
	argv, err = runner.WorkermandArgv(b.WorkermandCmd, b.Workermand, self, addr, nil)
	return argv, nil, err
}

func run(ctx context.Context, o options) (ok bool, err error) {
	b := &bench{options: o, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers)}
	if b.dir, err = os.MkdirTemp("", "gdbench-redis-"); err != nil {
		return false, fmt.Errorf("redis directory: %w", err)
	}
	defer os.RemoveAll(b.dir)
	if b.self, err = runner.Preflight(o.Servers, b.serverArgv, "redis"); err != nil {
		return false, err
	}
	return b.Run(ctx, o.Rounds, o.Out, b.report, b.measure)
}

// measure runs one window against a fresh server.
func (b *bench) measure(ctx context.Context, server string) error {
	s, err := runner.Launch(server, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, server, addr)
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	proto := kvload.GlobalData
	if server == "redis" {
		proto = kvload.Redis
	}
	res, err := loadgen.Bench{ClkTck: b.clkTck, ServerCPU: b.ServerCPU, LoadCPU: b.LoadCPU,
		Warmup: b.Warmup, Duration: b.Duration}.Measure(ctx, s,
		[]string{b.self, "kvload", "-proto", proto, "-size", fmt.Sprint(b.size)}, loadgen.ReqResp, b.conns)
	if err != nil {
		return err
	}
	res.AddRoundTrip(b.Comparison, server, "round trip")
	return nil
}

func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nGlobalData vs Redis: medians of %d round(s); %s windows after %s warm-up; %d connections, SET and GET in turn, %d-byte values.\n",
		b.Rounds, b.Duration, b.Warmup, b.conns, b.size)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, load generator to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, metrics)
	return sb.String()
}
