package master

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/counters"
	"github.com/workermand/workermand/internal/ipc"
)

// Request is one control-socket command, sent as a JSON line.
type Request struct {
	Cmd      string `json:"cmd"` // status, connections, stop, reload, upgrade, reopen, debug_stack, debug_profile
	Graceful bool   `json:"graceful,omitempty"`
	// Debug names the process of a debug_* command (debug.go).
	Debug *DebugRequest `json:"debug,omitempty"`
}

// Response answers a Request. Code follows the CLI's exit codes: 0 ok,
// 1 failed, 2 config error.
type Response struct {
	OK          bool                `json:"ok"`
	Code        int                 `json:"code,omitempty"`
	Error       string              `json:"error,omitempty"`
	Status      *StatusReport       `json:"status,omitempty"`
	Connections []ipc.ConnectionRow `json:"connections,omitempty"`
	Debug       *DebugReply         `json:"debug,omitempty"`
	// NewPID (upgrade) is the pid of the master that took over.
	NewPID int `json:"new_pid,omitempty"`
}

// StatusReport is the `status --json` document (schema 1).
type StatusReport struct {
	Schema    int             `json:"schema"`
	Master    MasterStatus    `json:"master"`
	Workers   []WorkerStatus  `json:"workers"`
	Processes []ProcessStatus `json:"processes"`
}

// MasterStatus describes the master process.
type MasterStatus struct {
	PID       int     `json:"pid"`
	StartTime string  `json:"start_time"`
	UptimeS   float64 `json:"uptime_s"`
	Version   string  `json:"version"`
	Config    string  `json:"config"`
	// Program names a code-first program (workerman.RunAll with workers).
	Program string `json:"program,omitempty"`
	// Metrics is the URL of the [metrics] endpoint, with its bound port.
	Metrics string `json:"metrics,omitempty"`
}

// WorkerStatus describes one worker and how its children ended.
type WorkerStatus struct {
	Name       string         `json:"name"`
	Listen     string         `json:"listen"`
	Count      int            `json:"count"`
	ExitStatus map[string]int `json:"exit_status"`
}

// ProcessStatus is one child's line: who it is, its counters (every one
// the loop keeps, under package counters' keys) and its state.
type ProcessStatus struct {
	PID         int    `json:"pid"`
	Worker      string `json:"worker"`
	ID          int    `json:"id"`
	Generation  int    `json:"generation"`
	Listen      string `json:"listen"`
	MemoryBytes uint64 `json:"memory_bytes"`
	counters.Counters
	QPS float64 `json:"qps"`
	// Status is idle, busy, or draining: a process a reload or max_requests
	// replaced, finishing its connections.
	Status string `json:"status"`
	// BusyForS: a busy process's loop has not answered for that long; its
	// counters are the last it reported.
	BusyForS float64 `json:"busy_for_s,omitempty"`
}

// request is a control request inside the master loop, or (internal) a
// function the loop must run.
type request struct {
	Request
	reply    chan Response
	internal func()
}

// statusTimeout is how long a child has to answer before it shows as busy.
// A child answers within 400 ms even when its loop is stuck (with its last
// counters), so this bounds only a child that is stopped or starved, and
// `status` answers within a second whatever the children do.
const statusTimeout = 600 * time.Millisecond

// ServeControl accepts control connections on path until the master stops.
// The socket is created 0600 and every peer's credentials are checked: only
// root and the master's own user may command it.
func (m *Master) ServeControl(path string) (func(), error) {
	if in := m.opts.Inherit; in != nil && in.control != nil {
		return m.inheritControl(path, in)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// We hold our pid-file lock, so a socket file left here is a dead
	// master's, unless another daemon with its own pid file names the same
	// socket: taking it over would hand that daemon's status, reload and
	// stop to us.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another running master answers on it (give this daemon its own control_socket)", path)
	}
	_ = os.Remove(path)
	old := unix.Umask(0o077)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The file is removed here, by the master that owns it at the end:
	// one that handed it to a new master (upgrade) must leave it.
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	m.control.ln = ul
	go m.acceptControl(ul)
	return m.controlCloser(path), nil
}

// controlState is the control socket's listener; spare is a duplicate kept
// while an upgrade may still give the socket back (pauseControl).
type controlState struct {
	mu    sync.Mutex
	ln    *net.UnixListener
	spare *os.File
}

// inheritControl takes over the control socket of the master this one
// replaces. It accepts nothing until the upgrade commits.
func (m *Master) inheritControl(path string, in *Inheritance) (func(), error) {
	ln, err := net.FileListener(in.control)
	in.control.Close()
	in.control = nil
	if err != nil {
		return nil, fmt.Errorf("control socket: inherited: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok || ul.Addr().String() != path {
		ln.Close()
		return nil, fmt.Errorf("control socket: the running master serves %s, the config names %s: control_socket cannot change on upgrade (restart instead)", ln.Addr(), path)
	}
	ul.SetUnlinkOnClose(false)
	m.control.ln = ul
	return m.controlCloser(path), nil
}

// controlCloser closes the control socket once Run returned, removing its
// file unless a new master (upgrade) or an old one (a failed upgrade) owns
// it.
func (m *Master) controlCloser(path string) func() {
	return func() {
		m.closeControl()
		if !m.HandedOver() && !m.awaitingCommit() {
			_ = os.Remove(path)
		}
	}
}

func (m *Master) acceptControl(ln *net.UnixListener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go m.serveControlConn(c.(*net.UnixConn))
	}
}

// pauseControl stops accepting commands, keeping a duplicate of the
// socket for resumeControl.
func (m *Master) pauseControl() error {
	cs := &m.control
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ln == nil {
		return nil
	}
	spare, err := cs.ln.File()
	if err != nil {
		return err
	}
	cs.ln.Close()
	cs.ln, cs.spare = nil, spare
	return nil
}

// resumeControl accepts commands again after pauseControl.
func (m *Master) resumeControl() error {
	cs := &m.control
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.spare == nil {
		return nil
	}
	ln, err := net.FileListener(cs.spare)
	cs.spare.Close()
	cs.spare = nil
	if err != nil {
		return err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	cs.ln = ul
	go m.acceptControl(ul)
	return nil
}

// closeControl closes this master's copies of the control socket.
func (m *Master) closeControl() {
	cs := &m.control
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ln != nil {
		cs.ln.Close()
		cs.ln = nil
	}
	if cs.spare != nil {
		cs.spare.Close()
		cs.spare = nil
	}
}

func (m *Master) serveControlConn(c *net.UnixConn) {
	defer c.Close()
	if err := checkPeer(c); err != nil {
		m.log.Warn("control connection refused", zap.Error(err))
		_ = json.NewEncoder(c).Encode(Response{Code: 1, Error: err.Error()})
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		_ = json.NewEncoder(c).Encode(Response{Code: 1, Error: "bad request: " + err.Error()})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	r := &request{Request: req, reply: make(chan Response, 1)}
	select {
	case m.requests <- r:
	case <-m.done:
		_ = json.NewEncoder(c).Encode(Response{Code: 1, Error: errNotRunning.Error()})
		return
	}
	var resp Response
	select {
	case resp = <-r.reply:
	case <-m.done:
		resp = Response{OK: true}
	}
	_ = json.NewEncoder(c).Encode(resp)
}

func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("uid %d may not control this master", cred.Uid)
	}
	return nil
}

func (m *Master) onRequest(r *request) {
	if r.internal != nil {
		r.internal()
		return
	}
	switch r.Cmd {
	case "status":
		m.status(func(rep *StatusReport) { r.reply <- Response{OK: true, Status: rep} })
	case "connections":
		m.connections(func(rows []ipc.ConnectionRow) { r.reply <- Response{OK: true, Connections: rows} })
	case "stop":
		m.stop(r.Graceful)
		r.reply <- Response{OK: true}
	case "reload":
		if err := m.reload(r.Graceful, func(err error) { r.reply <- responseFor(err) }); err != nil {
			r.reply <- responseFor(err)
		}
	case "upgrade":
		if err := m.upgrade(func(pid int, err error) {
			resp := responseFor(err)
			resp.NewPID = pid
			r.reply <- resp
		}); err != nil {
			r.reply <- responseFor(err)
		}
	case "reopen":
		m.reopen(func(err error) { r.reply <- responseFor(err) })
	case "debug_stack", "debug_profile":
		m.debug(r)
	default:
		r.reply <- Response{Code: 1, Error: fmt.Sprintf("unknown command %q", r.Cmd)}
	}
}

// ConfigError marks reload failures caused by the new config (exit code 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func responseFor(err error) Response {
	if err == nil {
		return Response{OK: true}
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return Response{Code: 2, Error: err.Error()}
	}
	return Response{Code: 1, Error: err.Error()}
}

// status asks every child for its counters concurrently, off the master
// loop, and calls done with the report.
func (m *Master) status(done func(*StatusReport)) {
	rep := &StatusReport{
		Schema: 1,
		Master: MasterStatus{PID: os.Getpid(), StartTime: m.started.Format(time.RFC3339),
			UptimeS: time.Since(m.started).Seconds(), Version: m.opts.Version, Config: m.cfg.Path, Program: m.cfg.Program,
			Metrics: m.metrics.url},
	}
	addrs := m.Addrs()
	for _, w := range m.cfg.Workers {
		counts := map[string]int{}
		for k, v := range m.exitCounts[w.Name] {
			counts[k] = v
		}
		listen := w.Listen
		if a, ok := addrs[w.Name]; ok {
			listen = w.ListenScheme() + "://" + a
		}
		rep.Workers = append(rep.Workers, WorkerStatus{Name: w.Name, Listen: listen, Count: w.Count, ExitStatus: counts})
	}
	procs := m.liveProcs()
	qps := m.qps
	draining := make([]bool, len(procs)) // read here: state belongs to the master loop
	for i, p := range procs {
		draining[i] = p.state == stateDraining
	}
	go func() {
		rows := make([]ProcessStatus, len(procs))
		gone := make([]bool, len(procs))
		results := make(chan struct{}, len(procs))
		for i, p := range procs {
			status := "idle"
			if draining[i] {
				status = "draining"
			}
			go func() {
				defer func() { results <- struct{}{} }()
				row := ProcessStatus{PID: p.pid, Worker: p.worker.Name, ID: p.id, Generation: p.gen,
					Listen: p.worker.Listen, Status: status, QPS: qps[p.pid].rate}
				if a, ok := addrs[p.worker.Name]; ok {
					row.Listen = p.worker.ListenScheme() + "://" + a
				}
				s, err := p.askStatus(statusTimeout)
				row.MemoryBytes, row.Counters = s.MemoryBytes, s.Counters
				if s.Busy {
					row.Status, row.BusyForS = "busy", float64(s.BusyMS)/1000
				}
				rows[i], gone[i] = row, errors.Is(err, errGone)
			}()
		}
		for range procs {
			<-results
		}
		// A child that exited meanwhile is not shown (not as busy either).
		live := rows[:0]
		for i, row := range rows {
			if !gone[i] {
				live = append(live, row)
			}
		}
		rows = live
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].Worker != rows[j].Worker {
				return rows[i].Worker < rows[j].Worker
			}
			if rows[i].ID != rows[j].ID {
				return rows[i].ID < rows[j].ID
			}
			return rows[i].Generation < rows[j].Generation
		})
		rep.Processes = rows
		done(rep)
	}()
}

// connectionsTimeout bounds a child's answer to connections: a busy child
// answers with nothing after its own short wait, but one that is listing
// 100,000 rows needs longer than status's bound.
const connectionsTimeout = 10 * time.Second

func (m *Master) connections(done func([]ipc.ConnectionRow)) {
	procs := m.liveProcs()
	go func() {
		// Concurrently, like status: a busy child costs one timeout, not one
		// each.
		parts := make([][]ipc.ConnectionRow, len(procs))
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Go(func() {
				if r, err := p.request(&ipc.Message{Type: ipc.TypeConnections}, connectionsTimeout); err == nil {
					parts[i] = r.Connections
				}
			})
		}
		wg.Wait()
		done(slices.Concat(parts...))
	}()
}

// liveProcs are the children that can answer: ready or draining (one
// still starting has no loop to ask yet).
func (m *Master) liveProcs() []*proc {
	var out []*proc
	for _, p := range m.children() {
		if p.state == stateReady || p.state == stateDraining {
			out = append(out, p)
		}
	}
	return out
}

type qpsSample struct {
	total uint64
	at    time.Time
	rate  float64
}

// sampleQPS keeps each child's requests per second over the last second, so
// a one-shot status shows a rate.
func (m *Master) sampleQPS() {
	procs := m.liveProcs()
	if len(procs) == 0 {
		return
	}
	go func() {
		type sample struct {
			pid   int
			total uint64
			at    time.Time
			ok    bool
		}
		// Concurrently: a busy child must not delay the others' samples
		// (nor this round the next one).
		got := make([]sample, len(procs))
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Go(func() {
				got[i].pid = p.pid
				if s, err := p.askStatus(statusTimeout); err == nil && !s.Busy {
					got[i] = sample{p.pid, s.TotalRequest, time.Now(), true}
				}
			})
		}
		wg.Wait()
		m.post(func() {
			next := map[int]qpsSample{}
			for _, s := range got {
				if !s.ok {
					if prev, ok := m.qps[s.pid]; ok {
						next[s.pid] = prev
					}
					continue
				}
				q := qpsSample{total: s.total, at: s.at}
				if prev, ok := m.qps[s.pid]; ok && s.at.After(prev.at) && s.total >= prev.total {
					q.rate = float64(s.total-prev.total) / s.at.Sub(prev.at).Seconds()
				}
				next[s.pid] = q
			}
			m.qps = next
		})
	}()
}
