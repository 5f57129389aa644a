// Command chanbench compares the backends of the Go channel client on
// one machine, in one run: publish → deliver throughput and latency for
// the channel server (the stock channel handler, frame://), redis-server
// and nats-server, with 1 publisher, 100 subscribers of one event and
// 64-byte messages.
//
// Each backend server runs as a process of its own on a free loopback port
// (the channel server is this executable re-run as one, a Process with
// handlers/channel's server on one loop, as a daemon child runs it;
// redis-server with persistence off; nats-server with defaults), killed by
// pid at the end. The publisher and the subscribers are channel.Clients in
// this process, the publisher on its own loop, the subscribers spread over
// -loops loops. The publisher keeps at most -window messages in flight (a
// message is done when every subscriber has it), so no backend is pushed
// into dropping a slow subscriber; each message carries its send time.
//
// Per round (-duration, after -warmup), the table reports messages
// published per second, deliveries per second (messages × subscribers),
// p50 and p99 of publish → deliver over every delivery, and the backend
// server's CPU per delivery (utime + stime from /proc). Medians of
// -rounds rounds, backends alternating within each round.
//
//	go run ./cmd/chanbench
//	go run ./cmd/chanbench -rounds 5 -duration 2s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/workerman"

	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
)

type options struct {
	subs     int
	size     int
	window   int
	loops    int
	rounds   int
	duration time.Duration
	warmup   time.Duration
	backends string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "frameserver" {
		if err := frameServer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "frameserver:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.subs, "subs", 100, "subscribers")
	flag.IntVar(&o.size, "size", 64, "message size in bytes")
	flag.IntVar(&o.window, "window", 64, "messages in flight at most")
	flag.IntVar(&o.loops, "loops", 2, "event loops the subscribers are spread over")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; the table holds medians")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "measured window of a round")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "publishing before the window")
	flag.StringVar(&o.backends, "backends", "frame,redis,nats", "backends to run, in order")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "chanbench:", err)
		os.Exit(1)
	}
}

// frameServer is the channel server process: one loop, as a daemon's child.
func frameServer(addr string) error {
	p, err := workerman.NewProcess(workerman.ProcessOptions{}, chanserver.NewServer("frame://"+addr))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return p.Run(ctx)
}

// server is a backend server process of ours and its Channel URL.
type server struct {
	*runner.Server
	url string
}

func startServer(name string) (*server, error) {
	if name != "frame" {
		s, url, err := runner.StartChannelBackend(name)
		if err != nil {
			return nil, err
		}
		return &server{s, url}, nil
	}
	addr, err := runner.FreeAddr()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s, err := runner.Start(name, exec.Command(self, "frameserver", addr), addr)
	if err != nil {
		return nil, err
	}
	return &server{s, "frame://" + addr}, nil
}

// cpuTime is the process's user + system time.
func (s *server) cpuTime() (time.Duration, error) { return proc.CPUTime(s.Pid()) }

// result is one round of one backend.
type result struct {
	msgsPerSec, delivPerSec float64
	p50, p99                time.Duration
	cpuPerDeliv             time.Duration
	clientCPUPerDeliv       time.Duration // this process: publisher and subscribers
}

func run(o options) error {
	backends := strings.Split(o.backends, ",")
	loops := make([]*workerman.EventLoop, o.loops+1)
	for i := range loops {
		p, err := workerman.NewProcess(workerman.ProcessOptions{}, workerman.NewWorker(""))
		if err != nil {
			return err
		}
		ready := make(chan struct{})
		p2 := p
		go func() {
			if err := p2.Run(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "loop:", err)
			}
		}()
		p.Loop().Post(func() { close(ready) })
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("a loop did not start")
		}
		loops[i] = p.Loop()
	}
	results := map[string][]result{}
	for r := range o.rounds {
		for _, b := range backends {
			res, err := round(o, b, loops)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, b, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-5s %8.0f msgs/s %10.0f deliveries/s p50 %6.0f µs p99 %6.0f µs, server %.3f µs/delivery, clients %.3f µs/delivery\n",
				r+1, b, res.msgsPerSec, res.delivPerSec, us(res.p50), us(res.p99), us(res.cpuPerDeliv), us(res.clientCPUPerDeliv))
			results[b] = append(results[b], res)
		}
	}
	fmt.Printf("\nMedians of %d round(s); %s windows after %s warm-up; 1 publisher, %d subscribers on %d loops, %d-byte messages, at most %d in flight.\n",
		o.rounds, o.duration, o.warmup, o.subs, o.loops, o.size, o.window)
	fmt.Printf("%s on %d CPUs, %s.\n\n", runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Println("| backend | messages/s | deliveries/s | p50 publish→deliver (µs) | p99 (µs) | server CPU (µs/delivery) | client CPU (µs/delivery) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, b := range backends {
		rs := results[b]
		med := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f | %.3f | %.3f |\n", name(b),
			med(func(r result) float64 { return r.msgsPerSec }),
			med(func(r result) float64 { return r.delivPerSec }),
			med(func(r result) float64 { return us(r.p50) }),
			med(func(r result) float64 { return us(r.p99) }),
			med(func(r result) float64 { return us(r.cpuPerDeliv) }),
			med(func(r result) float64 { return us(r.clientCPUPerDeliv) }))
	}
	return nil
}

func name(b string) string {
	switch b {
	case "frame":
		return "channel server (frame://)"
	case "redis":
		return "redis-server (redis://)"
	case "nats":
		return "nats-server (nats://)"
	}
	return b
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// round runs one backend: a fresh server, fresh clients, warm-up, window.
func round(o options, backend string, loops []*workerman.EventLoop) (result, error) {
	srv, err := startServer(backend)
	if err != nil {
		return result{}, err
	}
	defer srv.Stop()

	var (
		mu        sync.Mutex
		lat       []time.Duration
		measuring atomic.Bool
		counts    = map[uint64]int{} // deliveries per message in flight
		done      = make(chan struct{}, o.window)
		connected sync.WaitGroup
		probeSeen atomic.Int64
		failures  atomic.Int64
	)
	record := func(data any) {
		s, _ := data.(string)
		seqText, rest, ok := strings.Cut(s, ":")
		if !ok {
			return
		}
		if seqText == "probe" {
			probeSeen.Add(1)
			return
		}
		sentText, _, _ := strings.Cut(rest, ":")
		seq, _ := strconv.ParseUint(seqText, 10, 64)
		sent, _ := strconv.ParseInt(sentText, 10, 64)
		d := time.Duration(time.Now().UnixNano() - sent)
		mu.Lock()
		if measuring.Load() {
			lat = append(lat, d)
		}
		counts[seq]++
		complete := counts[seq] == o.subs
		if complete {
			delete(counts, seq)
		}
		mu.Unlock()
		if complete {
			done <- struct{}{}
		}
	}
	opts := channel.Options{
		OnConnect: func() {},
		OnError:   func(error) { failures.Add(1) },
	}
	clients := make([]channel.Client, 0, o.subs+1)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	connected.Add(o.subs + 1)
	for i := range o.subs + 1 {
		loop := loops[0] // the publisher's
		if i > 0 {
			loop = loops[1+(i-1)%(len(loops)-1)]
		}
		var once sync.Once
		co := opts
		co.OnConnect = func() { once.Do(connected.Done) }
		c, err := channel.Connect(loop, srv.url, co)
		if err != nil {
			return result{}, err
		}
		clients = append(clients, c)
		if i > 0 {
			c.On("bench", record)
		}
	}
	pub := clients[0]
	if !waitTimeout(&connected, 15*time.Second) {
		return result{}, fmt.Errorf("clients not connected within 15 s")
	}
	// Every subscription in place: a probe reaches all subscribers.
	deadline := time.Now().Add(15 * time.Second)
	for probeSeen.Load() < int64(o.subs) {
		probeSeen.Store(0)
		if err := pub.Publish("probe:", "bench"); err != nil {
			return result{}, err
		}
		time.Sleep(200 * time.Millisecond)
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("the subscriptions were not in place within 15 s (%d of %d)", probeSeen.Load(), o.subs)
		}
	}

	pad := strings.Repeat("x", o.size)
	for range o.window {
		done <- struct{}{}
	}
	var seq uint64
	publish := func(until time.Time) (uint64, error) {
		var n uint64
		for time.Now().Before(until) {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				return n, fmt.Errorf("no message completed in 5 s (%d in flight; %d client errors)", o.window, failures.Load())
			}
			seq++
			msg := strconv.FormatUint(seq, 10) + ":" + strconv.FormatInt(time.Now().UnixNano(), 10) + ":"
			if len(msg) < o.size {
				msg += pad[:o.size-len(msg)]
			}
			if err := pub.Publish(msg, "bench"); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	if _, err := publish(time.Now().Add(o.warmup)); err != nil {
		return result{}, err
	}
	cpu0, err := srv.cpuTime()
	if err != nil {
		return result{}, err
	}
	self0, err := proc.CPUTime(os.Getpid())
	if err != nil {
		return result{}, err
	}
	measuring.Store(true)
	start := time.Now()
	n, err := publish(start.Add(o.duration))
	elapsed := time.Since(start)
	measuring.Store(false)
	if err != nil {
		return result{}, err
	}
	cpu1, err := srv.cpuTime()
	if err != nil {
		return result{}, err
	}
	self1, err := proc.CPUTime(os.Getpid())
	if err != nil {
		return result{}, err
	}
	mu.Lock()
	l := slices.Clone(lat)
	mu.Unlock()
	if len(l) == 0 {
		return result{}, fmt.Errorf("nothing delivered")
	}
	slices.Sort(l)
	deliveries := float64(n) * float64(o.subs)
	return result{
		msgsPerSec:        float64(n) / elapsed.Seconds(),
		delivPerSec:       deliveries / elapsed.Seconds(),
		p50:               l[len(l)/2],
		p99:               l[len(l)*99/100],
		cpuPerDeliv:       time.Duration(float64(cpu1-cpu0) / deliveries),
		clientCPUPerDeliv: time.Duration(float64(self1-self0) / deliveries),
	}, nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
		return true
	case <-time.After(d):
		return false
	}
}
