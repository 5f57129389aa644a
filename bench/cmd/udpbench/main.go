// Command udpbench compares workermand's UDP echo (a udp:// worker with the
// echo handler: raw datagrams, one message each) with the same echo on a
// single gnet v2 loop, on one machine, in one run.
//
// Each server runs pinned to one CPU and the generator to another; -conns
// UDP sockets each keep one datagram in flight and check its echo. The
// table reports, as medians over rounds, datagrams per second, round-trip
// latency and the server's CPU per datagram, with gnet's figures as a
// ratio to workermand's.
//
//	go run ./cmd/udpbench -workermand ../bin/workermand
//	go run ./cmd/udpbench -quick
//
// udpbench carries the gnet server and the generator as hidden
// subcommands (gnetudp, udpload) and starts them by re-running its own
// executable, so one build is all it needs.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

var subcommands = map[string]func(args []string) error{
	"gnetudp": func(args []string) error { return echoserver.Main("gnetudp", args) },
	"udpload": loadgen.UDPMain,
}

var allServers = []string{"workermand", "gnet"}

type options struct {
	runner.Flags
	conns int
	size  int
}

var metrics = loadgen.RoundTripMetrics("datagrams/s", "datagram")

func main() {
	runner.Main("udpbench", subcommands, parseFlags, run, "some measurements failed (see the 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("udpbench", runner.FlagSpec{
		WorkermandCmd: "{workermand} serve --listen udp://{addr} --handler echo",
		WorkermandCmdHelp: "command line that starts workermand, split like a shell does (quotes work); {workermand} is -workermand, {addr} host:port, {port} the port,\n" +
			"{self} this program (e.g. '{self} gnetudp -addr {addr}' to try the harness without workermand)",
		Servers:   allServers,
		Quick:     map[string]string{"rounds": "1", "duration": "2s", "warmup": "500ms"},
		QuickHelp: "smoke run: 1 round, 2s windows, 0.5s warm-up\n(explicit -rounds, -duration, -warmup still win)",
	})
	fs.IntVar(&o.conns, "conns", 100, "UDP sockets, each with one datagram in flight")
	fs.IntVar(&o.size, "size", 64, "bytes per datagram")
	if err := o.Parse(args); err != nil {
		return o, err
	}
	if o.conns < 1 || o.size < 2 {
		return o, fmt.Errorf("-conns must be at least 1 and -size at least 2")
	}
	return o, nil
}

// serverArgv returns the command line that starts server name on addr,
// and the environment it needs on top of ours.
func (o options) serverArgv(self, name, addr string) (argv, env []string, err error) {
	if name == "gnet" {
		// One core, said explicitly rather than left to the runtime
		// reading the affinity mask.
		return []string{self, "gnetudp", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
	}
	argv, err = runner.WorkermandArgv(o.WorkermandCmd, o.Workermand, self, addr, nil)
	return argv, nil, err // workermand sizes itself
}

type bench struct {
	options
	self   string
	clkTck int64
	*runner.Comparison
}

func run(ctx context.Context, o options) (ok bool, err error) {
	self, err := runner.Preflight(o.Servers, o.serverArgv, "gnet")
	if err != nil {
		return false, err
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers)}
	return b.Run(ctx, o.Rounds, o.Out, b.report, b.echo)
}

// echo runs one measured window against a fresh server.
func (b *bench) echo(ctx context.Context, server string) error {
	p, err := runner.LaunchUDP(server, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, server, addr)
	})
	if err != nil {
		return err
	}
	defer p.Stop()
	res, err := loadgen.Bench{ClkTck: b.clkTck, ServerCPU: b.ServerCPU, LoadCPU: b.LoadCPU,
		Warmup: b.Warmup, Duration: b.Duration}.Measure(ctx, p, []string{b.self, "udpload", "-size", fmt.Sprint(b.size)}, loadgen.ReqResp, b.conns)
	if err != nil {
		return err
	}
	res.AddRoundTrip(b.Comparison, server, "datagram")
	return nil
}

// report renders the medians with gnet's ratio to workermand.
func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nUDP echo: medians of %d round(s); %s windows after %s warm-up; %d sockets, %d-byte datagrams.\n",
		b.Rounds, b.Duration, b.Warmup, b.conns, b.size)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, load generator to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, metrics)
	return sb.String()
}
