// Command fanout measures a broadcast: one -size byte websocket message
// sent by one server process to -conns connections, against a gnet
// websocket server doing the same loop, in one run with interleaved
// rounds. The clients are separate processes (fanoutload); a trigger
// connection of this driver sends a message, the server sends it to every
// connection (the trigger's included, as the stock broadcast handler
// does), and each client process reports when the last of its
// connections has it. Reported: time from the trigger's write until the
// last client has the message, and the server's CPU time per delivered
// message. See README.md.
//
// With -procs N it measures instead one broadcast reaching -conns
// connections over N processes of the stock handler through a Channel
// backend (procs.go), with no gnet peer.
//
//	go run ./cmd/fanout -workermand ../bin/workermand
//	go run ./cmd/fanout -quick
//	go run ./cmd/fanout -workermand ../bin/workermand -procs 8 -conns 100000 -channel redis
package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/fanout"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

var subcommands = map[string]func(args []string) error{
	"fanoutgnet": func(args []string) error { return wsserver.Main("gnet-fanout", args) },
	"fanoutwm":   fanout.WorkermanMain,
	"fanoutload": fanout.LoadMain,
}

// The servers: the stock broadcast handler in the real binary, a
// code-first worker doing the Workerman user's loop over its connections
// (linked into this program), and gnet.
var allServers = []string{"workermand", "workermand-loop", "gnet"}

// orderedServer is the code-first loop over a slice of its connections in
// accept order instead of w.Connections() (a map's order): the kernel's
// per-socket work has better locality in that order.
const orderedServer = "workermand-ordered"

// baseServer is the stock handler in another binary (-base), for an A/B of
// a change in one run; it runs only when -servers names it.
const baseServer = "workermand-base"

type options struct {
	runner.Flags
	conns     int
	perProc   int
	size      int
	sends     int
	warm      int
	quietWait time.Duration
	base      string
	// the processes mode (procs.go)
	procs         int
	loaders       int
	channel       string
	deliverWithin time.Duration
}

func main() {
	runner.Main("fanout", subcommands, parseFlags, run, "some measurements failed (see the 'failed measurements' row)")
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := o.FlagSet("fanout", runner.FlagSpec{
		WorkermandCmd: "{workermand} serve --listen websocket://{addr} --handler broadcast",
		WorkermandCmdHelp: "command line that starts workermand, split like a shell does (quotes work); {workermand} is -workermand, {addr} host:port, {port} the port,\n" +
			"{self} this program (e.g. '{self} fanoutgnet -addr {addr}' to try the harness without workermand)",
		Servers:    append(allServers, baseServer, orderedServer),
		Load:       "the client processes",
		RoundsHelp: "rounds; each runs -sends broadcasts on every server in turn, and the table shows medians",
		Quick:      map[string]string{"rounds": "2", "sends": "10", "conns": "2000"},
		QuickHelp:  "smoke run: 2 rounds of 10 broadcasts to 2,000 connections (explicit flags still win)",
	})
	fs.IntVar(&o.conns, "conns", 10000, "client connections per server (the trigger connection comes on top)")
	fs.IntVar(&o.perProc, "conns-per-proc", 10000, "connections per client process")
	fs.IntVar(&o.size, "size", 64, "payload bytes of a broadcast (at least 16)")
	fs.IntVar(&o.sends, "sends", 40, "broadcasts per server per round (one CPU reading around them)")
	fs.IntVar(&o.warm, "warm", 5, "unmeasured broadcasts per server before the first round")
	fs.StringVar(&o.base, "base", "", "`path` of a second workermand binary, run as the server "+baseServer+" (add it to -servers): an A/B of a change in one run")
	fs.IntVar(&o.procs, "procs", 0, "processes mode: the stock broadcast handler in this many processes (one worker each on 127.0.0.k) through -channel, "+
		"the clients spread over them; 0: one process against gnet")
	fs.IntVar(&o.loaders, "loaders", 0, "processes mode: client processes; 0 derives them from the open-files limit and the cores")
	fs.StringVar(&o.channel, "channel", "redis", "processes mode: the Channel backend started on loopback, redis or nats")
	fs.DurationVar(&o.deliverWithin, "deliver-within", 10*time.Second, "processes mode: a client without a broadcast after this long counts as a miss")
	fs.DurationVar(&o.quietWait, "quiet-wait", 5*time.Second,
		"before each server's round, wait up to this long for the two cores to be nearly idle (other tenants); 0 to not wait")
	fs.Lookup("servers").DefValue = strings.Join(allServers, ",")
	_ = fs.Set("servers", strings.Join(allServers, ","))
	if err := o.Parse(args); err != nil {
		return o, err
	}
	if slices.Contains(o.Servers, baseServer) && o.base == "" {
		return o, fmt.Errorf("-servers %s needs -base", baseServer)
	}
	if o.conns < 1 || o.perProc < 1 || o.size < 16 || o.size > 125 || o.sends < 1 || o.warm < 0 {
		return o, fmt.Errorf("-conns, -conns-per-proc and -sends must be at least 1, -size 16..125 and -warm at least 0")
	}
	return o, nil
}

// serverArgv is the command line of server name on addr, and the
// environment it needs on top of ours.
func (o options) serverArgv(self, name, addr string) (argv, env []string, err error) {
	switch name {
	case "gnet":
		return []string{self, "fanoutgnet", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
	case "workermand-loop":
		return []string{self, "fanoutwm", "-addr", addr}, nil, nil
	case orderedServer:
		return []string{self, "fanoutwm", "-ordered", "-addr", addr}, nil, nil
	case baseServer:
		argv, err = runner.WorkermandArgv(o.WorkermandCmd, o.base, self, addr, nil)
		return argv, nil, err
	}
	argv, err = runner.WorkermandArgv(o.WorkermandCmd, o.Workermand, self, addr, nil)
	return argv, nil, err
}

// Metric keys, in table order.
const (
	mCPU     = "cpu"
	mLast    = "last"
	mLastMax = "last_max"
	mRate    = "rate"
	mBusy    = "busy"
	mClient  = "client"
	mOther   = "other"
)

var metrics = []runner.Metric{
	{Key: mCPU, Label: "**server CPU per delivered message (µs)**", Better: "lower", Format: "%.3f"},
	{Key: mLast, Label: "last client has it, median (ms)", Better: "lower", Format: "%.2f"},
	{Key: mLastMax, Label: "last client has it, slowest of a round (ms)", Better: "lower", Format: "%.2f"},
	{Key: mRate, Label: "deliveries/s while broadcasting", Better: "higher", Format: "%.0f"},
	{Key: mBusy, Label: "server CPU busy (%)", Format: "%.0f"},
	{Key: mClient, Label: "client CPU per delivered message (µs)", Format: "%.3f"},
	{Key: mOther, Label: "other CPU on both cores (%)", Format: "%.0f"},
}

func run(ctx context.Context, o options) (ok bool, err error) {
	if o.procs > 0 {
		return runProcs(ctx, o)
	}
	self, err := runner.Preflight(o.Servers, o.serverArgv, "gnet")
	if err != nil {
		return false, err
	}
	nofile, err := runner.RaiseNoFile()
	if err != nil {
		return false, err
	}
	if uint64(min(o.conns, o.perProc))+64 > nofile || uint64(o.conns)+64 > nofile {
		return false, fmt.Errorf("-conns %d (and -conns-per-proc %d) need more open files than the limit %d allows", o.conns, o.perProc, nofile)
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers),
		rooms: map[string]*room{}}
	// Every server holds its connections for the whole run, so the rounds
	// alternate between servers that are all set up.
	defer func() {
		for _, r := range b.rooms {
			r.close()
		}
	}()
	for _, s := range o.Servers {
		r, err := b.open(ctx, s)
		if err != nil {
			return false, fmt.Errorf("%s: %w", s, err)
		}
		b.rooms[s] = r
	}
	return b.rounds(ctx)
}

// rounds runs every round on every server, starting each round one
// server further along, so no server always goes first after the wait for
// quiet cores (or right after another one's burst of traffic).
func (b *bench) rounds(ctx context.Context) (ok bool, err error) {
	start := time.Now()
	n := len(b.Servers)
	for r := range b.Rounds {
		for i := range n {
			s := b.Servers[(r+i)%n]
			if ctx.Err() != nil {
				return false, fmt.Errorf("interrupted: %w", ctx.Err())
			}
			if err := b.round(ctx, s); err != nil {
				b.Fail(s)
				runner.Logf("round %d/%d %s: FAILED: %v", r+1, b.Rounds, s, err)
			}
		}
	}
	runner.Logf("done in %s", time.Since(start).Round(time.Second))
	if err := runner.Report(b.report(), b.Out); err != nil {
		return false, err
	}
	return !b.Failed(), nil
}

type bench struct {
	options
	self   string
	clkTck int64
	rooms  map[string]*room
	*runner.Comparison
}

// round measures -sends broadcasts on server s: the server's CPU around
// them, and each one's time until the last client had it.
func (b *bench) round(ctx context.Context, s string) error {
	r := b.rooms[s]
	runner.WaitQuiet(ctx, b.quietWait, b.clkTck, b.ServerCPU, b.LoadCPU)
	m := runner.Meter{Pid: r.srv.Pid(), ClkTck: b.clkTck, CPUs: []int{b.ServerCPU, b.LoadCPU}}
	c0, err := r.clientTicks()
	if err != nil {
		return err
	}
	if err := m.Start(); err != nil {
		return err
	}
	began := time.Now()
	lasts := make([]float64, 0, b.sends)
	for range b.sends {
		d, err := r.broadcast(ctx)
		if err != nil {
			return err
		}
		lasts = append(lasts, d.Seconds()*1e3)
	}
	wall := time.Since(began).Seconds()
	if err := m.Stop(); err != nil {
		return err
	}
	c1, err := r.clientTicks()
	if err != nil {
		return err
	}
	deliveries := float64(b.sends * (b.conns + 1))
	client := float64(c1-c0) / float64(b.clkTck)
	b.Add(s, mCPU, m.Server()*1e6/deliveries)
	b.Add(s, mLast, runner.Median(lasts))
	b.Add(s, mLastMax, maxOf(lasts))
	b.Add(s, mRate, deliveries/wall)
	b.Add(s, mBusy, 100*m.Server()/wall)
	b.Add(s, mClient, client*1e6/deliveries)
	other := m.Other(wall, client)
	if other >= 0 {
		b.Add(s, mOther, other)
	}
	runner.Logf("%-16s %d broadcasts to %d: server %.3f µs/delivery, last client median %.2f ms, max %.2f ms, other CPU %.0f%%",
		s, b.sends, b.conns+1, m.Server()*1e6/deliveries, runner.Median(lasts), maxOf(lasts), other)
	return nil
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nMedians of %d round(s) of %d broadcasts per server, interleaved (each round starting one server further); %d-byte text message to %d client connections + the trigger, %d per client process.\n",
		b.Rounds, b.sends, b.size, b.conns, b.perProc)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, client processes to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, metrics)
	return sb.String()
}
