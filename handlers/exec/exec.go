// Package exec is the stock "exec" handler: business logic in any language.
// On a websocket://, text:// or http:// worker, each child process runs one
// program and talks to it in JSON lines: events on the program's stdin,
// commands on its stdout; its stderr goes to the daemon's log.
//
//	[[worker]]
//	name = "app"
//	listen = "websocket://0.0.0.0:8080"
//	handler = "exec"
//	count = 4
//	[worker.options]
//	command = ["php", "app.php"]
//	dir = "/srv/app"                 # the working directory; the daemon's when empty
//	env = { APP_ENV = "prod" }       # added to the daemon's environment
//	queue_bytes = 1048576            # the stdin queue's high-water mark
//	request_timeout = "30s"          # http:// workers: 504 past it
//
// The program starts in OnWorkerStart and is stopped with the child
// (SIGTERM, SIGKILL after 2 s). When it exits it is started again after a
// back-off of 100 ms doubling to 5 s (back to 100 ms once an instance has
// run 10 s). Clients keep their connections across a restart: the new
// instance gets worker_start, then a connect event for every connection
// open at that moment. Events that arrive while no instance runs are
// dropped (and counted), as are those queued for an instance that exits.
//
// Events (one JSON object a line on stdin):
//
//	{"event":"worker_start","worker":"app","id":0,"pid":4242}
//	{"event":"connect","conn":"4242-7","remote":"1.2.3.4:5678"}
//	{"event":"message","conn":"4242-7","data":"text"}   (not UTF-8: "data_b64")
//	{"event":"close","conn":"4242-7"}
//
// On a websocket worker, connect comes once the handshake is accepted and
// carries the upgrade request: "path" (%XX decoded), "query" (as sent,
// without "?") and "headers", an object of lower-case field names to
// strings, a field sent more than once joined with ", " (cookie with
// "; "), as RFC 9110 allows:
//
//	{"event":"connect","conn":"4242-7","remote":"…","path":"/chat",
//	 "query":"room=1","headers":{"host":"…","user-agent":"…"}}
//
// The daemon keeps that line for each open websocket (about the size of
// the request head) to announce the connection again to a restarted
// program; a connection refused by the handshake is never announced.
//
// On an http:// worker, the program sees no connect, message or close:
// each request is one event, and the program answers it with a response
// command (status 200 and no fields when absent; "body_b64" for bytes;
// a field given as an array is sent once per value, for Set-Cookie):
//
//	{"event":"request","conn":"4242-7","req":12,"remote":"…","method":"POST",
//	 "path":"/api/items","query":"a=1","headers":{…},"body":"…"}   (or "body_b64")
//	{"cmd":"response","conn":"4242-7","req":12,"status":201,
//	 "headers":{"content-type":"application/json"},"body":"{…}"}
//
// "req" numbers the requests of the process; a response naming another
// req (one answered already, by 504) is ignored, and without req a
// response answers the connection's pending request. A connection has one
// request in flight: keep-alive and pipelined requests are handed over one
// at a time, so answers keep the requests' order. A request not answered
// within request_timeout (30 s by default) gets 504, and one that finds no
// program running (starting again after an exit, or its queue at the cap
// below) gets 503 at once, as do the requests pending when it exits.
// send is refused (counted as malformed) on an http:// worker: an answer
// is a response.
//
// Commands (one JSON object a line on stdout); data may be given as
// "data_b64" instead of "data":
//
//	{"cmd":"send","conn":"4242-7","data":"…"}
//	{"cmd":"close","conn":"4242-7"}
//	{"cmd":"bind_uid","conn":"4242-7","uid":"u1"}   {"cmd":"unbind_uid","conn":…}
//	{"cmd":"join_group","conn":"4242-7","group":"g"} {"cmd":"leave_group",…}
//	{"cmd":"send_to_uid","uid":"u1","data":"…"}
//	{"cmd":"send_to_group","group":"g","data":"…"}
//	{"cmd":"broadcast","data":"…"}
//	{"cmd":"response","conn":"4242-7","req":12,"status":200,"headers":{…},"body":"…"}
//
// Connection ids are "<pid>-<local id>" strings, unique across the daemon,
// so a program may pass them around; a command naming a connection of
// another process, or one that has closed, is ignored.
//
// Back-pressure: the events wait in a queue drained by a goroutine writing
// to the program's stdin. When the queue holds more than queue_bytes, the
// process pauses reading from all its clients (and from new ones) until it
// is below half of that; TCP flow control then slows the clients. Messages
// already read when it pauses are still queued up to 4 × queue_bytes; past
// that they are dropped and counted (connect and close events past
// 8 × queue_bytes, which only a flood of connections reaches), so a
// program that never reads its stdin costs at most that much memory.
// An http:// worker pauses nothing (each connection waits for its answer
// anyway): a request past 4 × queue_bytes is answered 503.
// Commands are read at the loop's pace: at most 64 wait for the loop at a
// time.
//
// Malformed command lines (not JSON, an unknown cmd, a missing field, a
// line over 16 MiB) are counted and logged, at most once a second with
// the number suppressed; they are never fatal.
package exec

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/websocket"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("exec", func() workerman.Handler { return &Handler{} })
}

// Defaults and limits.
const (
	DefaultQueueBytes = 1 << 20
	// DefaultRequestTimeout is request_timeout's default.
	DefaultRequestTimeout = 30 * time.Second
	// MaxLine is the longest command line read; a longer one is skipped
	// and counted as malformed.
	MaxLine     = 16 << 20
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
	resetAfter  = 10 * time.Second
	stopGrace   = 2 * time.Second
	inFlight    = 64
	logInterval = time.Second
)

// Handler runs a program per process. Its exported fields are the options
// of [worker.options].
type Handler struct {
	// Command is the program and its arguments.
	Command []string `toml:"command"`
	// Env is added to the daemon's environment.
	Env map[string]string `toml:"env"`
	// Dir is the program's working directory; the daemon's when empty.
	Dir string `toml:"dir"`
	// QueueBytes is the stdin queue's high-water mark, in bytes;
	// DefaultQueueBytes when 0.
	QueueBytes int `toml:"queue_bytes"`
	// RequestTimeout is how long an http:// request waits for the
	// program's response before it is answered 504;
	// DefaultRequestTimeout when 0.
	RequestTimeout time.Duration `toml:"request_timeout"`
	// Channel is the backend URL (frame://, unix://, redis://, nats://)
	// through which bind_uid, join_group, send_to_uid, send_to_group and
	// broadcast reach every process and host of the worker, and whatever
	// else shares the backend; empty, this process only.
	Channel string `toml:"channel"`

	r *runner
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// Validate checks the options.
func (h *Handler) Validate() error {
	if len(h.Command) == 0 || h.Command[0] == "" {
		return errors.New(`the exec handler needs command = ["program", "args"…]`)
	}
	if h.QueueBytes < 0 {
		return fmt.Errorf("queue_bytes = %d: want 0 (the default) or more", h.QueueBytes)
	}
	if h.RequestTimeout < 0 || (h.RequestTimeout > 0 && h.RequestTimeout < time.Millisecond) {
		// A bare number in TOML decodes as nanoseconds.
		return fmt.Errorf("request_timeout = %s: write a duration string, as in \"30s\"", h.RequestTimeout)
	}
	for k := range h.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: bad variable name %q", k)
		}
	}
	if h.Channel != "" {
		return channel.CheckURL(h.Channel)
	}
	return nil
}

// Stats are the handler's counters in this process.
type Stats struct {
	Starts    int  // instances started
	Malformed int  // command lines rejected
	Dropped   int  // events dropped (no instance, or the queue at its cap)
	Pauses    int  // times the clients were paused
	Paused    bool // the clients are paused now
	Running   bool // an instance runs now
	Pid       int  // its pid, 0 when none
	// http:// workers: requests answered 504 (timeout) and 503 (no
	// program, or its queue at the cap), and those waiting now.
	Timeouts, Unavailable, Pending int
}

// Stats reads the counters of this process. Loop-only.
func (h *Handler) Stats() Stats {
	r := h.r
	if r == nil {
		return Stats{}
	}
	s := Stats{Starts: r.starts, Malformed: r.malformed, Dropped: r.dropped, Pauses: r.pauses, Paused: r.paused,
		Timeouts: r.timeouts, Unavailable: r.unavailable, Pending: len(r.pending)}
	if r.cur != nil {
		s.Running, s.Pid = true, r.cur.cmd.Process.Pid
	}
	return s
}

// Attach runs the program with w's processes.
func (h *Handler) Attach(w *workerman.Worker) error {
	switch p := w.Protocol(); p {
	case "websocket", "text", "http":
	default:
		return fmt.Errorf("the exec handler serves a websocket://, text:// or http:// worker, not %s", p)
	}
	if err := h.Validate(); err != nil {
		return err
	}
	high := h.QueueBytes
	if high == 0 {
		high = DefaultQueueBytes
	}
	if h.Channel != "" && w.Channel == nil {
		w.Channel = channel.Backend(h.Channel, channel.Options{})
	}
	timeout := h.RequestTimeout
	if timeout == 0 {
		timeout = DefaultRequestTimeout
	}
	r := &runner{h: h, w: w, high: high, backoff: minBackoff, timeout: timeout,
		proto: w.Protocol(), announced: map[uint64][]byte{}, pending: map[uint64]*pending{}}
	h.r = r
	userStart, userStop := w.OnWorkerStart, w.OnWorkerStop
	w.OnWorkerStart = func(w *workerman.Worker) {
		r.pid = os.Getpid()
		r.log = w.Loop().Logger().With(zap.String("worker", w.Name))
		r.start()
		if userStart != nil {
			userStart(w)
		}
	}
	w.OnWorkerStop = func(w *workerman.Worker) {
		if userStop != nil {
			userStop(w)
		}
		r.stop()
	}
	userConnect, userMessage, userClose := w.OnConnect, w.OnMessage, w.OnClose
	w.OnConnect = func(c *workerman.Connection) {
		if r.paused {
			c.PauseRecv()
		}
		if r.proto == "text" {
			r.event(event{Event: "connect", Conn: r.connID(c), Remote: c.RemoteAddr().String()}, false)
		}
		if userConnect != nil {
			userConnect(c)
		}
	}
	if r.proto == "websocket" {
		userWS := w.OnWebSocketConnect
		w.OnWebSocketConnect = func(c *workerman.Connection, req *http.Request) *http.Response {
			var resp *http.Response
			if userWS != nil {
				if resp = userWS(c, req); resp != nil && resp.Status != 101 {
					return resp // refused: the program never hears of it
				}
			}
			line := r.marshal(requestEvent{Event: "connect", Conn: r.connID(c), Remote: c.RemoteAddr().String(),
				Path: req.Path(), Query: req.QueryString(), Headers: headers(req)})
			r.announced[c.ID()] = line
			r.queue(line, false)
			return resp
		}
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if r.proto == "http" {
			if req, ok := m.Value.(*http.Request); ok {
				r.request(c, req)
			}
			if userMessage != nil {
				userMessage(c, m)
			}
			return
		}
		e := event{Event: "message", Conn: r.connID(c)}
		if utf8.Valid(m.Data) {
			e.Data = string(m.Data)
		} else {
			e.DataB64 = base64.StdEncoding.EncodeToString(m.Data)
		}
		r.event(e, true)
		if userMessage != nil {
			userMessage(c, m)
		}
	}
	w.OnClose = func(c *workerman.Connection) {
		switch r.proto {
		case "text":
			r.event(event{Event: "close", Conn: r.connID(c)}, false)
		case "websocket":
			if _, ok := r.announced[c.ID()]; ok {
				delete(r.announced, c.ID())
				r.event(event{Event: "close", Conn: r.connID(c)}, false)
			}
		case "http":
			if p := r.pending[c.ID()]; p != nil {
				r.w.Timer().Del(p.timer)
				delete(r.pending, c.ID())
			}
		}
		if userClose != nil {
			userClose(c)
		}
	}
	return nil
}

type event struct {
	Event   string `json:"event"`
	Worker  string `json:"worker,omitempty"`
	ID      *int   `json:"id,omitempty"`
	Pid     int    `json:"pid,omitempty"`
	Conn    string `json:"conn,omitempty"`
	Remote  string `json:"remote,omitempty"`
	Data    string `json:"data,omitempty"`
	DataB64 string `json:"data_b64,omitempty"`
}

// requestEvent is a websocket's connect and an http request.
type requestEvent struct {
	Event   string            `json:"event"`
	Conn    string            `json:"conn"`
	Req     uint64            `json:"req,omitempty"`
	Remote  string            `json:"remote"`
	Method  string            `json:"method,omitempty"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body,omitempty"`
	BodyB64 *string           `json:"body_b64,omitempty"`
}

type command struct {
	Cmd     string  `json:"cmd"`
	Conn    string  `json:"conn"`
	UID     string  `json:"uid"`
	Group   string  `json:"group"`
	Data    *string `json:"data"`
	DataB64 *string `json:"data_b64"`
	// response
	Req     uint64                `json:"req"`
	Status  int                   `json:"status"`
	Headers map[string]fieldValue `json:"headers"`
	Body    *string               `json:"body"`
	BodyB64 *string               `json:"body_b64"`
}

// fieldValue is a response field's value: a string, or an array of them
// for a field sent more than once.
type fieldValue []string

func (v *fieldValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = fieldValue{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("a header value must be a string or an array of strings")
	}
	*v = ss
	return nil
}

// pending is an http request waiting for the program's response.
type pending struct {
	seq   uint64
	timer workerman.TimerID
}

// runner is one process's state; loop-only unless said otherwise.
type runner struct {
	h    *Handler
	w    *workerman.Worker
	log  *zap.Logger
	pid  int
	high int

	cur      *instance
	stopping bool
	backoff  time.Duration
	timer    workerman.TimerID

	proto   string
	timeout time.Duration
	// announced holds each websocket's connect line, from its handshake
	// to its close, to announce it again to a restarted program.
	announced map[uint64][]byte
	// pending holds the http request each connection waits on.
	pending map[uint64]*pending
	seq     uint64

	paused                             bool
	starts, malformed, dropped, pauses int
	timeouts, unavailable              int
	lastLog                            time.Time
	suppressed                         int
}

// instance is one run of the program.
type instance struct {
	cmd     *osexec.Cmd
	started time.Time
	exited  chan struct{} // closed when Wait returns

	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	bytes  int
	closed bool
	// wantResume: the loop paused the clients and waits for the queue to
	// fall below half the mark.
	wantResume bool
}

func (r *runner) connID(c *workerman.Connection) string {
	return strconv.Itoa(r.pid) + "-" + strconv.FormatUint(c.ID(), 10)
}

// conn finds the connection an id names in this process.
func (r *runner) conn(id string) *workerman.Connection {
	pid, local, ok := strings.Cut(id, "-")
	if !ok || pid != strconv.Itoa(r.pid) {
		return nil
	}
	n, err := strconv.ParseUint(local, 10, 64)
	if err != nil {
		return nil
	}
	return r.w.Connection(n)
}

func (r *runner) start() {
	r.timer = 0
	if r.stopping {
		return
	}
	h := r.h
	cmd := osexec.Command(h.Command[0], h.Command[1:]...)
	cmd.Dir = h.Dir
	if len(h.Env) > 0 {
		cmd.Env = os.Environ()
		for k, v := range h.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	// The program dies with the child process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	stderr, err3 := cmd.StderrPipe()
	err := errors.Join(err1, err2, err3)
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		r.log.Error("exec: cannot start the program", zap.Strings("command", h.Command), zap.Error(err))
		r.retry()
		return
	}
	in := &instance{cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	in.cond = sync.NewCond(&in.mu)
	r.cur = in
	r.starts++
	pid := cmd.Process.Pid
	log := r.log.With(zap.Int("pid", pid))
	log.Info("exec: program started", zap.Strings("command", h.Command))

	loop := r.w.Loop()
	go in.write(stdin, r.high/2, loop, r)
	go r.read(in, stdout, log)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 4096), 64<<10)
		for sc.Scan() {
			log.Info("exec: stderr", zap.String("line", sc.Text()))
		}
	}()
	go func() {
		err := cmd.Wait()
		close(in.exited)
		loop.Post(func() { r.exited(in, err) })
	}()

	// A paused process resumes with the new instance's empty queue.
	r.resume()
	id := r.w.ID()
	r.event(event{Event: "worker_start", Worker: r.w.Name, ID: &id, Pid: r.pid}, false)
	switch r.proto {
	case "text":
		for c := range r.w.Connections() {
			r.event(event{Event: "connect", Conn: r.connID(c), Remote: c.RemoteAddr().String()}, false)
		}
	case "websocket":
		for _, line := range r.announced {
			r.queue(line, false)
		}
	}
}

func (r *runner) retry() {
	if r.stopping {
		return
	}
	d := r.backoff
	r.backoff = min(2*r.backoff, maxBackoff)
	r.timer = r.w.Timer().AddOnce(d, r.start)
}

func (r *runner) exited(in *instance, err error) {
	in.close()
	if r.cur != in {
		return
	}
	r.cur = nil
	if r.stopping {
		return
	}
	// What it had not answered, it never will.
	for id := range r.pending {
		r.answerError(id, 503)
	}
	if time.Since(in.started) >= resetAfter {
		r.backoff = minBackoff
	}
	r.log.Warn("exec: program exited; restarting", zap.Int("pid", in.cmd.Process.Pid), zap.Error(err), zap.Duration("after", r.backoff))
	r.retry()
}

func (r *runner) stop() {
	r.stopping = true
	if r.timer != 0 {
		r.w.Timer().Del(r.timer)
		r.timer = 0
	}
	in := r.cur
	if in == nil {
		return
	}
	in.close() // EOF on its stdin
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(stopGrace):
		r.log.Warn("exec: the program ignored SIGTERM; killing it", zap.Int("pid", in.cmd.Process.Pid))
		_ = in.cmd.Process.Kill()
		select {
		case <-in.exited:
		case <-time.After(time.Second):
		}
	}
	r.cur = nil
}

// event queues e for the current instance.
func (r *runner) event(e event, droppable bool) {
	if r.cur == nil {
		if droppable {
			r.dropped++
		}
		return
	}
	r.queue(r.marshal(e), droppable)
}

// marshal encodes an event as a line.
func (r *runner) marshal(e any) []byte {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: strings, ints and maps of strings
		r.log.Error("exec: encoding an event", zap.Error(err))
		return nil
	}
	return append(b, '\n')
}

// queue queues an event line for the current instance, and reports
// whether it did. Messages (droppable) go past the high-water mark only up
// to 4 × it, other events up to 8 × it.
func (r *runner) queue(b []byte, droppable bool) bool {
	in := r.cur
	if in == nil || b == nil {
		if droppable {
			r.dropped++
		}
		return false
	}
	limit := 4 * r.high
	if !droppable {
		limit = 8 * r.high // connects and closes: a last resort
	}
	in.mu.Lock()
	if in.closed || in.bytes+len(b) > limit {
		in.mu.Unlock()
		r.dropped++
		return false
	}
	in.queue = append(in.queue, b)
	in.bytes += len(b)
	over := in.bytes > r.high
	if over {
		in.wantResume = true
	}
	in.cond.Signal()
	in.mu.Unlock()
	// The http:// protocol pauses and resumes its connections itself, one
	// request in flight each: a pause here would fight it.
	if over && !r.paused && r.proto != "http" {
		r.paused = true
		r.pauses++
		for c := range r.w.Connections() {
			c.PauseRecv()
		}
	}
	return true
}

// headers are a request's fields as the events carry them: lower-case
// names, repeated fields joined (RFC 9110 §5.3; cookie with "; ").
func headers(req *http.Request) map[string]string {
	m := map[string]string{}
	for name, value := range req.Headers() {
		if prev, ok := m[name]; ok {
			sep := ", "
			if name == "cookie" {
				sep = "; "
			}
			value = prev + sep + value
		}
		m[name] = value
	}
	return m
}

// request hands an http request to the program, or answers 503 when it
// cannot.
func (r *runner) request(c *workerman.Connection, req *http.Request) {
	if r.cur == nil {
		r.unavailable++
		_, _ = c.SendValue(unavailable())
		return
	}
	r.seq++
	e := requestEvent{Event: "request", Conn: r.connID(c), Req: r.seq, Remote: c.RemoteAddr().String(),
		Method: req.Method(), Path: req.Path(), Query: req.QueryString(), Headers: headers(req)}
	body := req.RawBody()
	if utf8.Valid(body) {
		s := string(body)
		e.Body = &s
	} else {
		s := base64.StdEncoding.EncodeToString(body)
		e.BodyB64 = &s
	}
	if !r.queue(r.marshal(e), true) {
		r.unavailable++
		_, _ = c.SendValue(unavailable())
		return
	}
	id, seq := c.ID(), r.seq
	p := &pending{seq: seq}
	p.timer = r.w.Timer().AddOnce(r.timeout, func() {
		if q := r.pending[id]; q == p {
			r.timeouts++
			r.answerError(id, 504)
		}
	})
	r.pending[id] = p
}

func unavailable() *http.Response {
	return http.Text(503, "503 Service Unavailable: the program is not running\n").WithHeader("Retry-After", "1")
}

// answerError answers connection id's pending request with status.
func (r *runner) answerError(id uint64, status int) {
	p := r.pending[id]
	if p == nil {
		return
	}
	delete(r.pending, id)
	r.w.Timer().Del(p.timer)
	c := r.w.Connection(id)
	if c == nil {
		return
	}
	var resp *http.Response
	if status == 504 {
		resp = http.Text(504, "504 Gateway Timeout: the program did not answer in time\n")
	} else {
		r.unavailable++
		resp = unavailable()
	}
	_, _ = c.SendValue(resp)
}

// respond sends the program's response to the request conn waits on.
func (r *runner) respond(c command, conn *workerman.Connection, line []byte) {
	p := r.pending[conn.ID()]
	if p == nil || (c.Req != 0 && c.Req != p.seq) {
		return // answered already (504), or never asked: ignored
	}
	status := c.Status
	if status == 0 {
		status = 200
	}
	if status < 100 || status > 999 || status == 101 {
		r.bad(fmt.Sprintf("response: status %d", c.Status), string(line))
		return
	}
	resp := http.NewResponse(status)
	names := make([]string, 0, len(c.Headers))
	for name := range c.Headers {
		names = append(names, name)
	}
	slices.Sort(names) // a map has no order; the wire should not vary
	for _, name := range names {
		switch strings.ToLower(name) {
		case "content-length", "transfer-encoding", "connection":
			continue // the server frames the response and owns keep-alive
		}
		for _, v := range c.Headers[name] {
			resp.AddHeader(name, v)
		}
	}
	switch {
	case c.Body != nil:
		resp.Body = []byte(*c.Body)
	case c.BodyB64 != nil:
		b, err := base64.StdEncoding.DecodeString(*c.BodyB64)
		if err != nil {
			r.bad("response: body_b64 is not base64", string(line))
			return
		}
		resp.Body = b
	}
	delete(r.pending, conn.ID())
	r.w.Timer().Del(p.timer)
	if _, err := conn.SendValue(resp); err != nil {
		r.log.Warn("exec: sending a response", zap.Error(err))
	}
}

func (r *runner) resume() {
	if !r.paused {
		return
	}
	r.paused = false
	for c := range r.w.Connections() {
		c.ResumeRecv()
	}
}

func (in *instance) close() {
	in.mu.Lock()
	in.closed = true
	in.queue, in.bytes = nil, 0
	in.cond.Broadcast()
	in.mu.Unlock()
}

// write runs on its own goroutine: it drains the queue into stdin, and
// asks the loop to resume the clients once below low.
func (in *instance) write(stdin io.WriteCloser, low int, loop *workerman.EventLoop, r *runner) {
	defer stdin.Close()
	for {
		in.mu.Lock()
		for len(in.queue) == 0 && !in.closed {
			in.cond.Wait()
		}
		if in.closed {
			in.mu.Unlock()
			return
		}
		b := in.queue[0]
		in.queue[0] = nil
		in.queue = in.queue[1:]
		in.mu.Unlock()

		_, err := stdin.Write(b)

		in.mu.Lock()
		in.bytes -= len(b)
		resume := in.wantResume && in.bytes < low
		if resume {
			in.wantResume = false
		}
		in.mu.Unlock()
		if resume {
			loop.Post(func() {
				if r.cur == in {
					r.resume()
				}
			})
		}
		if err != nil {
			return // it exited, or closed its stdin; Wait tells
		}
	}
}

// read runs on its own goroutine: each command line is handled on the loop,
// at most inFlight waiting at a time.
func (r *runner) read(in *instance, stdout io.Reader, log *zap.Logger) {
	br := bufio.NewReaderSize(stdout, 64<<10)
	sem := make(chan struct{}, inFlight)
	loop := r.w.Loop()
	var long []byte
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !tooLong {
				long = append(long, frag...)
				if len(long) > MaxLine {
					long, tooLong = nil, true
				}
			}
			continue
		}
		if len(frag) > 0 || len(long) > 0 {
			var line []byte
			if tooLong {
				line = nil
			} else {
				line = append(long, frag...)
			}
			bad := tooLong
			long, tooLong = nil, false
			line = bytes.TrimSpace(line)
			if len(line) > 0 || bad {
				sem <- struct{}{}
				loop.Post(func() {
					defer func() { <-sem }()
					if bad {
						r.bad(fmt.Sprintf("a line over %d bytes", MaxLine), "")
						return
					}
					r.handle(line)
				})
			}
		}
		if err != nil {
			return
		}
	}
}

// bad counts a malformed line and logs it, at most once per logInterval.
func (r *runner) bad(why, line string) {
	r.malformed++
	if now := time.Now(); now.Sub(r.lastLog) >= logInterval {
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		r.log.Warn("exec: malformed command line skipped", zap.String("why", why), zap.String("line", line), zap.Int("suppressed", r.suppressed))
		r.lastLog, r.suppressed = now, 0
		return
	}
	r.suppressed++
}

func (r *runner) handle(line []byte) {
	var c command
	if err := json.Unmarshal(line, &c); err != nil {
		r.bad(err.Error(), string(line))
		return
	}
	data := func() ([]byte, bool) {
		switch {
		case c.Data != nil:
			return []byte(*c.Data), true
		case c.DataB64 != nil:
			b, err := base64.StdEncoding.DecodeString(*c.DataB64)
			return b, err == nil
		}
		return nil, false
	}
	need := func(fields ...string) bool {
		for _, f := range fields {
			if f == "" {
				r.bad(c.Cmd+": a field is missing", string(line))
				return false
			}
		}
		return true
	}
	var err error
	switch c.Cmd {
	case "send", "close", "bind_uid", "unbind_uid", "join_group", "leave_group", "response":
		if !need(c.Conn) {
			return
		}
		conn := r.conn(c.Conn)
		if conn == nil {
			return // closed, or another process's: ignored
		}
		switch c.Cmd {
		case "response":
			r.respond(c, conn, line)
		case "send":
			if r.proto == "http" {
				// Bytes outside a response would break the stream of
				// answers, and the pending request would still get 504.
				r.bad("send on an http:// worker: answer with response", string(line))
				return
			}
			b, ok := data()
			if !ok {
				r.bad("send: no data or data_b64", string(line))
				return
			}
			r.send(conn, b)
		case "close":
			conn.Close()
		case "bind_uid":
			if need(c.UID) {
				conn.BindUID(c.UID)
			}
		case "unbind_uid":
			conn.UnbindUID()
		case "join_group":
			if need(c.Group) {
				conn.JoinGroup(c.Group)
			}
		case "leave_group":
			if need(c.Group) {
				conn.LeaveGroup(c.Group)
			}
		}
	case "send_to_uid", "send_to_group", "broadcast":
		b, ok := data()
		if !ok {
			r.bad(c.Cmd+": no data or data_b64", string(line))
			return
		}
		switch c.Cmd {
		case "send_to_uid":
			if need(c.UID) {
				err = r.w.SendToUID(c.UID, b)
			}
		case "send_to_group":
			if need(c.Group) {
				err = r.w.SendToGroup(c.Group, b)
			}
		default:
			err = r.w.SendToAll(b)
		}
	default:
		r.bad(fmt.Sprintf("unknown cmd %q", c.Cmd), string(line))
		return
	}
	if err != nil {
		r.log.Warn("exec: "+c.Cmd, zap.Error(err))
	}
}

// send sends b to c through its protocol: on a websocket a text frame when
// b is UTF-8, a binary one otherwise.
func (r *runner) send(c *workerman.Connection, b []byte) {
	if r.w.Protocol() == "websocket" && !utf8.Valid(b) {
		_, _ = c.SendValue(websocket.Binary(b))
		return
	}
	c.Send(b)
}

// QueuedBytes is what waits for the current instance's stdin. Loop-only.
func (h *Handler) QueuedBytes() int {
	if h.r == nil || h.r.cur == nil {
		return 0
	}
	in := h.r.cur
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.bytes
}
