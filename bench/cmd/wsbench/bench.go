package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

// Metric keys, in table order.
const (
	mRate    = "rate"
	mP50     = "p50"
	mP99     = "p99"
	mCPU     = "cpu"
	mBusy    = "busy"
	mLoad    = "load"
	mOther   = "other"
	mRSSBase = "rss_base"
	mIdleBPC = "idle_bpc"
)

var metrics = []runner.Metric{
	{Key: mRate, Label: "echo msgs/s", Better: "higher", Format: "%.0f"},
	{Key: mP50, Label: "p50 latency (µs)", Better: "lower", Format: "%.1f"},
	{Key: mP99, Label: "p99 latency (µs)", Better: "lower", Format: "%.1f"},
	{Key: mCPU, Label: "**server CPU (µs/msg)**", Better: "lower", Format: "%.3f"},
	{Key: mBusy, Label: "server CPU busy (%)", Format: "%.0f"},
	{Key: mLoad, Label: "generator CPU busy (%)", Format: "%.0f"},
	{Key: mOther, Label: "other CPU on both cores (%)", Format: "%.0f"},
	{Key: mRSSBase, Label: "RSS after start (MiB)", Better: "lower", Format: "%.1f"},
	{Key: mIdleBPC, Label: "**RSS per idle websocket (bytes)**", Better: "lower", Format: "%.0f"},
}

type bench struct {
	options
	self   string
	clkTck int64
	*runner.Comparison
}

func run(ctx context.Context, o options) (ok bool, err error) {
	self, err := runner.Preflight(o.Servers, o.serverArgv, "gorilla,gnet")
	if err != nil {
		return false, err
	}
	// Servers and the generator inherit the raised limit: each holds
	// -idle connections at once.
	nofile, err := runner.RaiseNoFile()
	if err != nil {
		return false, err
	}
	if uint64(o.idleConns)+64 > nofile {
		return false, fmt.Errorf("-idle %d needs more open files than the limit %d allows", o.idleConns, nofile)
	}
	b := &bench{options: o, self: self, clkTck: proc.ClockTicks(), Comparison: runner.NewComparison(o.Servers)}
	return b.Run(ctx, o.Rounds, o.Out, b.report, b.throughput, b.idle)
}

// start launches server on a fresh port, pinned to the server CPU, and
// checks it echoes correctly before anything is measured.
func (b *bench) start(server string) (*runner.Server, error) {
	s, err := runner.Launch(server, b.ServerCPU, func(addr string) ([]string, []string, error) {
		return b.serverArgv(b.self, server, addr)
	})
	if err != nil {
		return nil, err
	}
	if err := verify(s.Addr); err != nil {
		s.Stop()
		return nil, fmt.Errorf("echo check: %w; output: %s", err, s.Out)
	}
	return s, nil
}

// verify checks through gorilla's client, an implementation independent
// of the generator, that the server echoes text and binary messages with
// their type and bytes, including a payload with a 16-bit length and
// bytes that are not UTF-8, and answers a ping with its pong.
func verify(addr string) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	bin := make([]byte, 300)
	for i := range bin {
		bin[i] = byte(i)
	}
	msgs := []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("héllo, workermand")},
		{websocket.BinaryMessage, bin},
		{websocket.TextMessage, bytes.Repeat([]byte("x"), 200)},
		{websocket.BinaryMessage, []byte{0xff, 0x00, 0xfe}},
	}
	for i, m := range msgs {
		if err := c.WriteMessage(m.typ, m.data); err != nil {
			return fmt.Errorf("message %d: write: %w", i+1, err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("message %d: read: %w", i+1, err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			return fmt.Errorf("message %d: got type %d, %d bytes %.40q; want type %d, %d bytes %.40q",
				i+1, typ, len(got), got, m.typ, len(m.data), m.data)
		}
	}
	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	// Reading drives the pong handler; one more echo proves the order.
	if err := c.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
		return fmt.Errorf("after ping: write: %w", err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "after ping" {
		return fmt.Errorf("after ping: read %q: %v", got, err)
	}
	select {
	case p := <-pong:
		if p != "p1" {
			return fmt.Errorf("pong carries %q, want \"p1\"", p)
		}
	default:
		return fmt.Errorf("no pong before the next echo")
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return nil
}

// generator is the generator's command: this program's wsload, with the
// message size and type.
func (b *bench) generator() []string {
	argv := []string{b.self, "wsload", "-size", strconv.Itoa(b.size)}
	if b.text {
		argv = append(argv, "-text")
	}
	return argv
}

// echoSample is one measured echo window.
type echoSample struct {
	res    loadgen.Result
	cpu    float64 // server CPU seconds in the window
	others float64 // % of a core used by other work on the two cores; -1 if unknown
}

// throughput runs the echo test against a fresh server: msgs/s, latency,
// and the server's CPU per message between the generator's START and END.
func (b *bench) throughput(ctx context.Context, server string) error {
	s, err := b.start(server)
	if err != nil {
		return err
	}
	defer s.Stop()
	smp, err := runner.Quietest(b.maxOther, func() (echoSample, error) { return b.measure(ctx, s) },
		func(smp echoSample) float64 { return smp.others },
		func(smp echoSample) {
			runner.Logf("%-10s echo: other work used %.0f%% of a core (over -max-other %.0f): measuring again", server, smp.others, b.maxOther)
		})
	if err != nil {
		return err
	}
	res, cpu := smp.res, smp.cpu
	b.Add(server, mRate, res.MsgsPerSec)
	b.Add(server, mP50, res.P50us)
	b.Add(server, mP99, res.P99us)
	b.Add(server, mCPU, cpu*1e6/float64(res.Msgs))
	b.Add(server, mBusy, 100*cpu/res.Seconds)
	b.Add(server, mLoad, res.CPUBusy)
	if smp.others >= 0 {
		b.Add(server, mOther, smp.others)
	}
	runner.Logf("%-10s echo %9.0f msgs/s, p99 %.0fµs, server %.3f µs/msg, CPU busy: server %.0f%%, generator %.0f%%, other %.0f%%",
		server, res.MsgsPerSec, res.P99us, cpu*1e6/float64(res.Msgs), 100*cpu/res.Seconds, res.CPUBusy, smp.others)
	return nil
}

// measure waits for quiet cores, then runs one echo window on s.
func (b *bench) measure(ctx context.Context, s *runner.Server) (echoSample, error) {
	runner.WaitQuiet(ctx, b.quietWait, b.clkTck, b.ServerCPU, b.LoadCPU)
	m := &runner.Meter{Pid: s.Pid(), ClkTck: b.clkTck, CPUs: []int{b.ServerCPU, b.LoadCPU}}
	argv := append(b.generator(), loadgen.WindowArgs(s.Addr, loadgen.ReqResp, b.conns, b.Warmup, b.Duration)...)
	res, err := loadgen.Window(ctx, s, b.LoadCPU, argv, b.Warmup, b.Duration, m)
	if err != nil {
		return echoSample{others: -1}, err
	}
	return echoSample{res: res, cpu: m.Server(), others: m.Other(res.Seconds, res.CPUBusy*res.Seconds/100)}, nil
}

// idle measures resident memory per idle websocket on a fresh server: RSS
// after start-up, then with b.idleConns upgraded connections open, each
// having echoed one message.
func (b *bench) idle(ctx context.Context, server string) error {
	s, err := b.start(server)
	if err != nil {
		return err
	}
	defer s.Stop()
	base, loaded, connected, err := loadgen.IdleRSS(ctx, s, b.LoadCPU, b.generator(), b.idleConns, b.settle, b.settle)
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	perConn := float64(loaded-base) / float64(connected)
	b.Add(server, mRSSBase, float64(base)/(1<<20))
	b.Add(server, mIdleBPC, perConn)
	runner.Logf("%-10s idle RSS %.1f MiB → %.1f MiB with %d websockets: %.0f B/conn",
		server, float64(base)/(1<<20), float64(loaded)/(1<<20), connected, perConn)
	return nil
}

// report renders the medians as a Markdown table with one ratio column
// per other server against the first (workermand by default).
func (b *bench) report() string {
	var sb strings.Builder
	kind := "binary"
	if b.text {
		kind = "text"
	}
	fmt.Fprintf(&sb, "\nMedians of %d round(s); %s windows after %s warm-up; %d conns, %d-byte %s messages; %d idle websockets.\n",
		b.Rounds, b.Duration, b.Warmup, b.conns, b.size, kind, b.idleConns)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, load generator to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, metrics)
	return sb.String()
}
