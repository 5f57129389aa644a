// Command pushbench measures the stock push handler: HTTP API requests
// per second fanning out to -clients connected websocket clients, and the
// time until the last client has each message.
//
// Three processes of this executable re-run as servers, as daemon
// children run them, on a redis-server of their own (persistence off),
// each on a free loopback port and killed by pid at the end:
//
//   - "pushbench wsserver": a Process with a websocket:// worker named
//     "chat" whose connections all join the group "bench" on connect,
//     its uids and groups on Redis (channel.Backend);
//   - "pushbench pushserver": a Process with the push handler on an
//     http:// worker (token set, workers = ["chat"]), on the same Redis.
//
// This process opens the websocket clients, then per round and per
// operation posts messages for -duration (after -warmup) with at most
// -window undelivered at a time (a message is delivered when every client
// has it), each carrying its sequence number and send time:
//
//   - broadcast: POST /broadcast {"data"} (the event "all:chat");
//   - group: POST /send_to_group {"group":"bench","data"};
//   - redis: the peer without the API, a channel.Client of this process
//     publishing the same string on "all:chat" straight to Redis;
//   - uid: POST /send_to_uid to a uid nobody holds, one request at a time:
//     the API's own cost (HTTP, JSON, one PUBLISH), no fan-out.
//
// Per operation: requests (messages) per second, deliveries per second,
// p50 and p99 of the time from the send until the last client has the
// message, p50 of the API's answer, and the CPU time per delivery of the
// websocket process and per request of the push process and of
// redis-server (utime + stime from /proc). Medians of -rounds rounds,
// operations alternating within each round.
//
//	go run ./cmd/pushbench
//	go run ./cmd/pushbench -rounds 5 -duration 2s -window 1
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
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

	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/handlers/push"
	"github.com/workermand/workermand/workerman"
)

const token = "bench-token"

type options struct {
	clients  int
	size     int
	window   int
	rounds   int
	duration time.Duration
	warmup   time.Duration
	ops      string
}

func main() {
	if len(os.Args) == 4 && (os.Args[1] == "wsserver" || os.Args[1] == "pushserver") {
		if err := serve(os.Args[1], os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.clients, "clients", 10000, "websocket clients")
	flag.IntVar(&o.size, "size", 64, "message size in bytes")
	flag.IntVar(&o.window, "window", 1, "messages undelivered at most")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; the table holds medians")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "measured window of a round")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "sending before the window")
	flag.StringVar(&o.ops, "ops", "broadcast,group,redis,uid", "operations to run, in order")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(1)
	}
}

// serve is a server process: one loop, as a daemon's child.
func serve(kind, redisURL, addr string) error {
	var w *workerman.Worker
	switch kind {
	case "wsserver":
		w = workerman.NewWorker("websocket://" + addr)
		w.Name = "chat"
		w.Channel = channel.Backend(redisURL, channel.Options{})
		w.OnConnect = func(c *workerman.Connection) { c.JoinGroup("bench") }
	default:
		w = workerman.NewWorker("http://" + addr)
		w.Name = "push"
		w.Handler = &push.Handler{Channel: redisURL, Token: token, Workers: []string{"chat"}}
	}
	p, err := workerman.NewProcess(workerman.ProcessOptions{}, w)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return p.Run(ctx)
}

// server is a process of ours.
type server struct{ *runner.Server }

func start(name string, args func(addr string) []string) (*server, error) {
	addr, err := runner.FreeAddr()
	if err != nil {
		return nil, err
	}
	a := args(addr)
	s, err := runner.Start(name, exec.Command(a[0], a[1:]...), addr)
	if err != nil {
		return nil, err
	}
	return &server{s}, nil
}

func (s *server) cpu() (time.Duration, error) { return proc.CPUTime(s.Pid()) }

// tracker counts the deliveries of the messages in flight, in a ring of
// slots indexed by sequence number: at most window are in flight, so a
// slot is free again before it is reused.
type tracker struct {
	clients int
	counts  []atomic.Int64
	sent    []atomic.Int64 // send time, unix ns
	done    chan time.Duration
	probes  atomic.Int64
}

func (t *tracker) deliver(payload []byte) {
	seqText, _, ok := bytes.Cut(payload, []byte(":"))
	if !ok {
		return
	}
	if string(seqText) == "probe" {
		t.probes.Add(1)
		return
	}
	seq, err := strconv.ParseUint(string(seqText), 10, 64)
	if err != nil {
		return
	}
	slot := seq % uint64(len(t.counts))
	if t.counts[slot].Add(1) == int64(t.clients) {
		t.done <- time.Duration(time.Now().UnixNano() - t.sent[slot].Load())
	}
}

// result is one round of one operation.
type result struct {
	reqPerSec, delivPerSec   float64
	p50, p99, answer         time.Duration
	wsCPU, pushCPU, redisCPU time.Duration // per delivery; per request; per request
}

func run(o options) error {
	ops := strings.Split(o.ops, ",")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	redisSrv, url, err := runner.StartChannelBackend("redis")
	if err != nil {
		return err
	}
	defer redisSrv.Stop()
	redis := &server{redisSrv}
	ws, err := start("wsserver", func(addr string) []string { return []string{self, "wsserver", url, addr} })
	if err != nil {
		return err
	}
	defer ws.Stop()
	pushSrv, err := start("pushserver", func(addr string) []string { return []string{self, "pushserver", url, addr} })
	if err != nil {
		return err
	}
	defer pushSrv.Stop()

	tr := &tracker{clients: o.clients, counts: make([]atomic.Int64, 4*o.window+16), sent: make([]atomic.Int64, 4*o.window+16), done: make(chan time.Duration, o.window)}
	t0 := time.Now()
	conns, err := dialAll(ws.Addr, o.clients, tr)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	fmt.Fprintf(os.Stderr, "%d clients connected in %s\n", o.clients, time.Since(t0).Round(time.Millisecond))

	// The Redis peer: a client of this process on a loop of its own.
	p, err := workerman.NewProcess(workerman.ProcessOptions{}, workerman.NewWorker(""))
	if err != nil {
		return err
	}
	go func() { _ = p.Run(context.Background()) }()
	up := make(chan struct{})
	var once sync.Once
	direct, err := channel.Connect(p.Loop(), url, channel.Options{OnConnect: func() { once.Do(func() { close(up) }) }})
	if err != nil {
		return err
	}
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		return errors.New("no Redis client within 10 s")
	}
	defer direct.Close()

	api := &apiClient{base: "http://" + pushSrv.Addr, c: &nethttp.Client{Timeout: 10 * time.Second}}
	// Every client has joined, and the subscriptions are in: a probe
	// through each operation reaches every client.
	for _, op := range ops {
		if op == "uid" {
			continue
		}
		deadline := time.Now().Add(15 * time.Second)
		for tr.probes.Store(0); tr.probes.Load() < int64(o.clients); {
			if _, err := send(op, api, direct, "probe:"); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: a probe reached %d of %d clients within 15 s", op, tr.probes.Load(), o.clients)
			}
		}
	}

	results := map[string][]result{}
	var seq uint64
	for r := range o.rounds {
		for _, op := range ops {
			res, err := round(o, op, api, direct, tr, &seq, ws, pushSrv, redis)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, op, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-9s %7.1f req/s %9.0f deliveries/s last client p50 %7.0f µs p99 %7.0f µs, answer p50 %5.0f µs, ws %.3f µs/delivery, push %.1f µs/req, redis %.1f µs/req\n",
				r+1, op, res.reqPerSec, res.delivPerSec, us(res.p50), us(res.p99), us(res.answer), us(res.wsCPU), us(res.pushCPU), us(res.redisCPU))
			results[op] = append(results[op], res)
		}
	}
	fmt.Printf("\nMedians of %d round(s); %s windows after %s warm-up; %d websocket clients in one process, %d-byte messages, at most %d undelivered.\n",
		o.rounds, o.duration, o.warmup, o.clients, o.size, o.window)
	for _, op := range ops {
		var n []int
		for _, r := range results[op] {
			n = append(n, int(r.reqPerSec*o.duration.Seconds()+0.5))
		}
		fmt.Printf("%s: %v requests in the rounds' windows.\n", name(op), n)
	}
	fmt.Printf("%s on %d CPUs, %s.\n\n", runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Println("| operation | requests/s | deliveries/s | p50 send→last client (µs) | p99, the max below 100 messages (µs) | API answer p50 (µs) | websocket process CPU (µs/delivery) | push process CPU (µs/request) | redis CPU (µs/request) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, op := range ops {
		rs := results[op]
		med := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		// What an operation does not measure is a dash: the fan-out's
		// latency and deliveries for the offline uid; the answer for the
		// Redis peer, whose Publish only queues; CPU per request where a
		// window holds a few dozen requests, fewer than the 10 ms ticks
		// of /proc can tell apart.
		cell := func(ok bool, prec int, f func(result) float64) string {
			if !ok {
				return "–"
			}
			return strconv.FormatFloat(med(f), 'f', prec, 64)
		}
		fanout, viaAPI := op != "uid", op != "redis"
		fmt.Printf("| %s | %.1f | %s | %s | %s | %s | %s | %s | %s |\n", name(op),
			med(func(r result) float64 { return r.reqPerSec }),
			cell(fanout, 0, func(r result) float64 { return r.delivPerSec }),
			cell(fanout, 0, func(r result) float64 { return us(r.p50) }),
			cell(fanout, 0, func(r result) float64 { return us(r.p99) }),
			cell(viaAPI, 0, func(r result) float64 { return us(r.answer) }),
			cell(fanout, 3, func(r result) float64 { return us(r.wsCPU) }),
			cell(!fanout, 1, func(r result) float64 { return us(r.pushCPU) }),
			cell(!fanout, 1, func(r result) float64 { return us(r.redisCPU) }))
	}
	return nil
}

func name(op string) string {
	switch op {
	case "broadcast":
		return "POST /broadcast"
	case "group":
		return "POST /send_to_group"
	case "redis":
		return "Redis PUBLISH all:chat (no API)"
	case "uid":
		return "POST /send_to_uid, an offline uid (no fan-out)"
	}
	return op
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

type apiClient struct {
	base string
	c    *nethttp.Client
}

func (a *apiClient) post(path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := nethttp.NewRequest("POST", a.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, answer)
	}
	return nil
}

// send sends data through op and returns how long the API took to answer
// (0 for the Redis peer, whose Publish only queues).
func send(op string, api *apiClient, direct channel.Client, data string) (time.Duration, error) {
	t := time.Now()
	var err error
	switch op {
	case "broadcast":
		err = api.post("/broadcast", map[string]string{"data": data})
	case "group":
		err = api.post("/send_to_group", map[string]string{"group": "bench", "data": data})
	case "uid":
		err = api.post("/send_to_uid", map[string]string{"uid": "nobody", "data": data})
	case "redis":
		err = direct.Publish(data, "all:chat")
	default:
		err = fmt.Errorf("unknown operation %q", op)
	}
	return time.Since(t), err
}

func round(o options, op string, api *apiClient, direct channel.Client, tr *tracker, seq *uint64, ws, pushSrv, redis *server) (result, error) {
	free := make(chan struct{}, o.window)
	for range o.window {
		free <- struct{}{}
	}
	var (
		mu        sync.Mutex
		last      []time.Duration
		answers   []time.Duration
		measuring atomic.Bool
		stop      = make(chan struct{})
		collected = make(chan struct{})
	)
	go func() {
		defer close(collected)
		for {
			select {
			case d := <-tr.done:
				mu.Lock()
				if measuring.Load() {
					last = append(last, d)
				}
				mu.Unlock()
				free <- struct{}{}
			case <-stop:
				return
			}
		}
	}()
	pad := strings.Repeat("x", o.size)
	fanout := op != "uid" // a send to an offline uid reaches nobody: no wait
	sendUntil := func(until time.Time) (int, error) {
		n := 0
		for time.Now().Before(until) {
			if fanout {
				select {
				case <-free:
				case <-time.After(10 * time.Second):
					return n, fmt.Errorf("no message reached all %d clients in 10 s (%d in flight)", o.clients, o.window)
				}
			}
			*seq++
			slot := *seq % uint64(len(tr.counts))
			tr.counts[slot].Store(0)
			tr.sent[slot].Store(time.Now().UnixNano())
			msg := strconv.FormatUint(*seq, 10) + ":"
			if len(msg) < o.size {
				msg += pad[:o.size-len(msg)]
			}
			d, err := send(op, api, direct, msg)
			if err != nil {
				return n, err
			}
			if measuring.Load() {
				answers = append(answers, d)
			}
			n++
		}
		return n, nil
	}
	finish := func() {
		// The messages in flight complete before the next operation.
		for range o.window * btoi(fanout) {
			select {
			case <-free:
			case <-time.After(10 * time.Second):
			}
		}
		close(stop)
		<-collected
	}
	if _, err := sendUntil(time.Now().Add(o.warmup)); err != nil {
		finish()
		return result{}, err
	}
	cpu := func() (a, b, c time.Duration, err error) {
		a, err1 := ws.cpu()
		b, err2 := pushSrv.cpu()
		c, err3 := redis.cpu()
		return a, b, c, errors.Join(err1, err2, err3)
	}
	w0, p0, r0, err := cpu()
	if err != nil {
		return result{}, err
	}
	measuring.Store(true)
	t0 := time.Now()
	n, err := sendUntil(t0.Add(o.duration))
	elapsed := time.Since(t0)
	measuring.Store(false)
	w1, p1, r1, err2 := cpu()
	finish()
	if err := errors.Join(err, err2); err != nil {
		return result{}, err
	}
	mu.Lock()
	l := slices.Clone(last)
	mu.Unlock()
	if n == 0 || (fanout && len(l) == 0) {
		return result{}, errors.New("nothing delivered")
	}
	slices.Sort(l)
	slices.Sort(answers)
	res := result{
		reqPerSec: float64(n) / elapsed.Seconds(),
		answer:    answers[len(answers)/2],
		pushCPU:   time.Duration(float64(p1-p0) / float64(n)),
		redisCPU:  time.Duration(float64(r1-r0) / float64(n)),
	}
	if fanout {
		deliveries := float64(n) * float64(o.clients)
		res.delivPerSec = deliveries / elapsed.Seconds()
		res.p50, res.p99 = l[len(l)/2], l[len(l)*99/100]
		res.wsCPU = time.Duration(float64(w1-w0) / deliveries)
	}
	return res, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dialAll opens n websocket clients, 32 handshakes at a time, each read by
// a goroutine that hands every text message to tr.
func dialAll(addr string, n int, tr *tracker) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var next atomic.Int64
	errs := make(chan error, 32)
	for range 32 {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					errs <- nil
					return
				}
				c, r, err := dialWS(addr)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				conns[i] = c
				go readAll(r, tr)
			}
		}()
	}
	var err error
	for range 32 {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	return conns, err
}

// dialWS connects and completes the handshake. The client is written
// here rather than taken from a library so that 10,000 of them stay cheap.
func dialWS(addr string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, key)
	r := bufio.NewReaderSize(c, 256)
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		c.Close()
		return nil, nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	accept := base64.StdEncoding.EncodeToString(sum[:])
	ok := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("handshake: %w", err)
		}
		if line == "\r\n" {
			break
		}
		if name, v, _ := strings.Cut(line, ":"); strings.EqualFold(name, "Sec-WebSocket-Accept") && strings.TrimSpace(v) == accept {
			ok = true
		}
	}
	if !ok {
		c.Close()
		return nil, nil, errors.New("handshake: no valid Sec-WebSocket-Accept")
	}
	_ = c.SetDeadline(time.Time{})
	return c, r, nil
}

// readAll reads server frames (unmasked, unfragmented: the server sends
// each message as one frame) until the connection ends.
func readAll(r *bufio.Reader, tr *tracker) {
	var hdr [8]byte
	buf := make([]byte, 0, 128)
	for {
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return
		}
		op, n := hdr[0]&0x0f, uint64(hdr[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(r, hdr[:2]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(r, hdr[:8]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		if n > 1<<20 {
			return
		}
		buf = slices.Grow(buf[:0], int(n))[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		if op == 0x1 {
			tr.deliver(buf)
		}
	}
}
