package workerman

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/child"
	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
	"github.com/workermand/workermand/internal/logging"
	"github.com/workermand/workermand/internal/netloop"
)

// loopAnswerWait is how long a status or connections request waits for
// the loop; a loop stuck in a callback past it shows as busy. The master
// waits a little longer for the child, and `status` answers within a
// second whatever the children do.
const loopAnswerWait = 400 * time.Millisecond

// runChild runs the worker the master hands this process, from the config
// it sends or among the program's own (RunAll), and returns the process
// exit code.
func runChild(code map[string]*Worker, tables []map[string]any) int {
	// First thing: own the signals, so Go's default SIGQUIT goroutine dump
	// never shows up as a crash.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	signal.Ignore(syscall.SIGPIPE)
	raiseNoFile()
	openStatm()
	openFiles() // opens /proc/self/fd while descriptors are plentiful

	s, err := child.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "workermand child: %v\n", err)
		return 1
	}
	defer s.Close()
	r, err := newChildRuntime(s, code, tables)
	if err != nil {
		s.Fail(err)
		fmt.Fprintf(os.Stderr, "workermand child: %v\n", err)
		return 1
	}
	go s.Serve(r)
	go func() {
		for sig := range sigs {
			switch sig {
			case syscall.SIGINT, syscall.SIGTERM:
				r.p.Stop()
			case syscall.SIGQUIT:
				r.p.StopGracefully(r.graceful)
			}
		}
	}()
	if err := r.p.Run(context.Background()); err != nil {
		r.log.Error("worker process failed", zap.Error(err))
		return 1
	}
	_ = r.log.Sync()
	return 0
}

// childRuntime is one child's worker and the Controller the master's
// commands drive.
type childRuntime struct {
	s        *child.Session
	w        *Worker
	p        *Process
	log      *zap.Logger
	out      *logging.Output
	graceful time.Duration

	// The counters the loop gave last, shown while it is busy, and since
	// when the oldest request it has not answered waits (UnixNano, 0 when
	// none waits).
	// The files the master opened for the worker, by path, until the
	// protocol takes them (at start and after each reopen).
	filesMu sync.Mutex
	files   map[string]*os.File

	snapMu          sync.Mutex
	snap            ipc.ProcessStatus
	unansweredSince atomic.Int64
}

func newChildRuntime(s *child.Session, code map[string]*Worker, tables []map[string]any) (*childRuntime, error) {
	st := s.Setup
	cfg, err := config.Parse(st.Config, st.ConfigPath, config.Hooks{Code: tables})
	if err != nil {
		return nil, fmt.Errorf("config from master: %w", err)
	}
	var wc *config.Worker
	for _, w := range cfg.Workers {
		if w.Name == st.Worker && !w.Code {
			wc = w
		}
	}
	cw := code[st.Worker]
	if wc == nil && cw == nil {
		return nil, fmt.Errorf("worker %q %w: a worker defined in code that the new binary no longer defines needs `restart`", st.Worker, errNotInProgram)
	}
	fields := []zap.Field{zap.Int("pid", os.Getpid()), zap.String("role", "child"), zap.String("worker", st.Worker), zap.Int("id", st.ID), zap.Int("gen", st.Generation)}
	var log *zap.Logger
	var out *logging.Output
	if s.LogFile != nil {
		log, out, err = logging.FromFile(s.LogFile, st.LogLevel, st.LogFormat, fields...)
	} else {
		log, out, err = logging.New(logging.Options{Level: st.LogLevel, Format: st.LogFormat, Fields: fields})
	}
	if err != nil {
		return nil, fmt.Errorf("logger: %w", err)
	}
	w := cw // the program's own worker, with its callbacks
	if wc != nil {
		if wc.MemoryLimit > 0 {
			debug.SetMemoryLimit(int64(wc.MemoryLimit))
		}
		if w, err = workerFromConfig(wc); err != nil {
			return nil, err
		}
		h, err := NewHandler(wc.Handler, wc.DecodeOptions)
		if err != nil {
			return nil, err
		}
		w.Handler = h
	}
	w.id = st.ID
	if s.Listener == nil && w.ListenAddr != "" {
		return nil, fmt.Errorf("worker %q now has an address (%s) but was started without one: that needs `restart`", w.Name, w.ListenAddr)
	}
	r := &childRuntime{s: s, w: w, log: log, out: out, graceful: cfg.GracefulTimeout.Duration, files: s.Files}
	w.openFile = r.takeFile
	p, err := NewProcess(ProcessOptions{
		Logger:    log,
		Listeners: listeners(w, s.Listener),
		OnReady: func() {
			if err := s.Ready(); err != nil {
				log.Error("cannot report ready", zap.Error(err))
			}
			if w.MaxRequests > 0 {
				r.watchRequests()
			}
		},
	}, w)
	if err != nil {
		return nil, err
	}
	p.ticketKeys = newSessionTicketKeys(st.TicketKeys)
	p.stopDaemon = func() {
		if err := s.StopAll(false); err != nil {
			log.Error("cannot ask the master to stop", zap.Error(err))
		}
	}
	r.p = p
	return r, nil
}

// workerFromConfig builds a Worker from its config entry.
func workerFromConfig(wc *config.Worker) (*Worker, error) {
	w := NewWorker(wc.Listen)
	w.Name = wc.Name
	w.Transport = wc.Transport
	w.Count = wc.Count
	w.ReusePort = wc.ReusePort
	w.IPv6Only = wc.IPv6Only
	w.Reloadable = wc.Reloadable
	w.User, w.Group = wc.User, wc.Group
	w.MaxPackageSize = wc.MaxPackageSize
	w.MaxSendBufferSize = wc.MaxSendBufferSize
	w.MaxConnections = wc.MaxConnections
	w.IdleTimeout = wc.IdleTimeout.Duration
	w.SendTimeout = wc.SendTimeout.Duration
	w.ProxyProtocol = wc.ProxyPrefixes
	if wc.MaxRequests > 0 {
		w.MaxRequests = uint64(wc.MaxRequests)
	}
	if err := wc.HTTP.Decode(&w.HTTP); err != nil {
		return nil, err
	}
	if err := wc.WebSocket.Decode(&w.WebSocket); err != nil {
		return nil, err
	}
	if wc.TLS != nil {
		cfg, err := tlsFromConfig(wc, time.Now())
		if err != nil {
			return nil, err
		}
		w.TLS, w.TLSHandshakeTimeout = cfg, wc.TLS.HandshakeTimeout.Duration
	}
	return w, nil
}

// requestCheckEvery is how often a child compares its request count with
// max_requests.
const requestCheckEvery = 200 * time.Millisecond

// watchRequests asks the master for a replacement once the worker handled
// MaxRequests messages. Loop-only.
func (r *childRuntime) watchRequests() {
	var id netloop.TimerID
	id = r.p.loop.l.AddSystemTimer(requestCheckEvery, true, func() {
		if r.p.loop.l.Stats().TotalRequest < r.w.MaxRequests {
			return
		}
		r.p.loop.l.DelTimer(id)
		r.log.Info("max_requests reached; asking for a replacement", zap.Uint64("max_requests", r.w.MaxRequests))
		if err := r.s.Retire(); err != nil {
			r.log.Error("cannot ask for a replacement", zap.Error(err))
		}
	})
}

var _ child.Controller = (*childRuntime)(nil)

// quietFor is how long a connection must be silent before a reloading child
// closes it: long enough for a request already on its way to arrive.
const quietFor = 100 * time.Millisecond

func (r *childRuntime) Stop(mode string, timeout time.Duration, handOver bool) {
	if handOver {
		r.p.loop.l.Post(func() { r.p.handOver(r.sendHandovers) })
	}
	switch mode {
	case ipc.StopDrain:
		r.p.StopGracefully(timeout)
	case ipc.StopQuiet:
		r.p.StopWhenQuiet(quietFor, timeout)
	default:
		r.p.Stop()
	}
}

// sendHandovers passes connections to the master for this child's
// replacement and closes this process's copies of their sockets. Loop-only.
func (r *childRuntime) sendHandovers(w *Worker, hs []netloop.Handover) {
	metas := make([]ipc.Handover, len(hs))
	fds := make([]int, len(hs))
	for i, h := range hs {
		metas[i] = ipc.Handover{Pending: h.Pending, State: h.State}
		fds[i] = h.FD
	}
	if err := r.s.HandOver(w.Name, metas, fds); err != nil {
		r.log.Warn("hand-over failed; the connections close", zap.Error(err))
	} else {
		r.log.Info("connections handed over", zap.Int("count", len(hs)))
	}
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// Adopt takes over connections a retiring child handed over.
func (r *childRuntime) Adopt(hs []ipc.Handover, files []*os.File) {
	r.p.loop.l.Post(func() {
		adopted := 0
		for i, f := range files {
			fd, err := adoptSocket(f)
			if err != nil {
				continue
			}
			if r.w.listener == nil { // retiring as well
				_ = unix.Close(fd)
				continue
			}
			if _, err := r.w.listener.Adopt(netloop.Handover{FD: fd, Pending: hs[i].Pending, State: hs[i].State}); err != nil {
				r.log.Warn("cannot adopt a connection", zap.Error(err))
				continue
			}
			adopted++
		}
		r.log.Info("connections adopted", zap.Int("count", adopted))
	})
}

func (r *childRuntime) Reload() {
	r.p.loop.l.Post(func() {
		if r.w.OnWorkerReload != nil {
			r.p.call("OnWorkerReload", r.w, r.w.OnWorkerReload)
		}
	})
}

// SetTicketKeys reaches the TLS configs already serving as well as those
// a later Listen adds.
func (r *childRuntime) SetTicketKeys(keys []ipc.TicketKey) { r.p.ticketKeys.set(keys) }

func (r *childRuntime) Reopen(log *os.File, files map[string]*os.File) {
	r.filesMu.Lock()
	for path, f := range r.files { // not taken since the last reopen
		f.Close()
		delete(r.files, path)
	}
	maps.Copy(r.files, files)
	r.filesMu.Unlock()
	if err := r.w.reopenProtocol(); err != nil {
		r.log.Error("cannot reopen the protocol's log", zap.Error(err))
	}
	if log == nil {
		return
	}
	if r.out != nil {
		r.out.Swap(log)
		return
	}
	log.Close()
}

// takeFile hands the protocol the descriptor the master opened for path,
// once; a path the master did not open is opened here.
func (r *childRuntime) takeFile(path string) (*os.File, error) {
	r.filesMu.Lock()
	f, ok := r.files[path]
	delete(r.files, path)
	r.filesMu.Unlock()
	if ok {
		return f, nil
	}
	return logging.OpenAppend(path)
}

func (r *childRuntime) Status() ipc.ProcessStatus {
	asked := time.Now()
	r.unansweredSince.CompareAndSwap(0, asked.UnixNano())
	fresh := make(chan ipc.ProcessStatus, 1)
	r.p.loop.l.Post(func() {
		st := ipc.ProcessStatus{PID: os.Getpid(), Worker: r.w.Name, ID: r.w.id, Counters: r.p.loop.l.Stats()}
		r.unansweredSince.Store(0)
		r.snapMu.Lock()
		r.snap = st
		r.snapMu.Unlock()
		fresh <- st
	})
	var st ipc.ProcessStatus
	wait := time.NewTimer(loopAnswerWait)
	defer wait.Stop()
	select {
	case st = <-fresh:
	case <-wait.C:
		r.snapMu.Lock()
		st = r.snap
		r.snapMu.Unlock()
		st.PID, st.Worker, st.ID = os.Getpid(), r.w.Name, r.w.id
		st.Busy = true
		since := r.unansweredSince.Load()
		if since == 0 { // answered meanwhile, by a request before this one
			since = asked.UnixNano()
		}
		st.BusyMS = time.Since(time.Unix(0, since)).Milliseconds()
	}
	st.MemoryBytes = rssBytes()
	st.OpenFiles, st.FDLimit = openFiles(), fdLimit()
	return st
}

// connectionsCap bounds how long listing the connections may take once
// the loop has started on it: 100,000 rows take a good part of a second
// on a busy machine, far more than loopAnswerWait, which only decides
// whether the loop is free to start.
const connectionsCap = 8 * time.Second

func (r *childRuntime) Connections() []ipc.ConnectionRow {
	started := make(chan struct{})
	done := make(chan []ipc.ConnectionRow, 1)
	r.p.loop.l.Post(func() {
		close(started)
		n := 0
		for _, w := range r.p.workers {
			n += w.ConnectionCount()
		}
		rows := make([]ipc.ConnectionRow, 0, n)
		// Every worker of the process: the slot's, and those its code
		// started with Listen, shown under their own names.
		for _, w := range r.p.workers {
			proto := w.addr.Scheme
			for c := range w.Connections() {
				rows = append(rows, ipc.ConnectionRow{
					PID: os.Getpid(), Worker: w.Name, WorkerID: r.w.id, ID: c.ID(),
					Transport: w.Transport, Protocol: proto,
					Local: connLocal(c), Remote: connRemote(c),
					RecvQ: c.RecvQueueSize(), SendQ: c.SendQueueSize(),
					BytesRead: c.BytesRead(), BytesWritten: c.BytesWritten(), Status: c.Status().String(),
				})
			}
		}
		done <- rows
	})
	// A busy loop (not starting within loopAnswerWait) lists nothing, as
	// status shows its last counters: the command must not hang on it.
	wait := time.NewTimer(loopAnswerWait)
	defer wait.Stop()
	select {
	case <-started:
	case <-wait.C:
		return nil
	}
	wait.Reset(connectionsCap)
	select {
	case rows := <-done:
		return rows
	case <-wait.C:
		return nil
	}
}

// statm is /proc/self/statm, opened at start: a child out of descriptors
// (EMFILE) could not open it when asked and showed 0 bytes.
var statm struct {
	once sync.Once
	f    *os.File
	mu   sync.Mutex
	buf  [128]byte
}

func openStatm() {
	statm.once.Do(func() { statm.f, _ = os.Open("/proc/self/statm") })
}

// rssBytes is this process's resident set size.
func rssBytes() uint64 {
	openStatm()
	if statm.f == nil {
		return 0
	}
	statm.mu.Lock()
	defer statm.mu.Unlock()
	n, err := statm.f.ReadAt(statm.buf[:], 0)
	if n == 0 && err != nil {
		return 0
	}
	// "size resident shared ...", in pages.
	fields := bytes.Fields(statm.buf[:n])
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(string(fields[1]), 10, 64)
	return pages * uint64(os.Getpagesize())
}

// raiseNoFile lifts the soft descriptor limit to the hard one: a child may
// hold many connections.
func raiseNoFile() {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
}

// listeners maps w to its inherited socket, none for a worker that listens
// on nothing.
func listeners(w *Worker, f *os.File) map[*Worker]*os.File {
	if f == nil {
		return nil
	}
	return map[*Worker]*os.File{w: f}
}
