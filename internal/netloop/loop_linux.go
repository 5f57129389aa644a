package netloop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// Config tunes a Loop. Zero values pick the defaults.
type Config struct {
	Logger *zap.Logger
	// ReadBufferSize is the size of the loop's shared read buffer (64 KiB).
	ReadBufferSize int
	// AcceptBatch caps the connections one listener accepts per wakeup (32),
	// so a child sharing a listener leaves part of a burst to its siblings.
	AcceptBatch int
	// AcceptPause is how long a listener rests after EMFILE/ENFILE (100 ms).
	AcceptPause time.Duration
	// MaxTLSHandshakes caps the TLS handshakes in flight
	// (DefaultMaxTLSHandshakes); more wait for a turn.
	MaxTLSHandshakes int
}

const (
	defaultReadBuffer  = 64 << 10
	defaultAcceptBatch = 32
	defaultAcceptPause = 100 * time.Millisecond
	// corkLimit bounds output corked during one dispatch; beyond it the
	// output is written at once so a large reply does not wait.
	corkLimit = 64 << 10
	// maxIovecs is the kernel's IOV_MAX.
	maxIovecs = 1024
	// keptInboundCap: an emptied inbound buffer larger than this is freed
	// rather than kept for the next partial packet.
	keptInboundCap = 4 << 10
)

// Loop is one epoll reactor. Create it with New, register listeners, then
// call Run on the goroutine that will own it.
type Loop struct {
	log   *zap.Logger
	cfg   Config
	epfd  int
	efd   int
	start time.Time

	conns     []*Conn // indexed by fd
	listeners map[int]*Listener
	events    []unix.EpollEvent
	rbuf      []byte
	scratch   []byte       // encode buffer for direct writes
	iovecs    [][]byte     // writev argument, reused
	iov       []unix.Iovec // its kernel form, reused
	lastGen   uint32
	tick      int64 // loop clock at the start of the current turn
	lastID    uint64

	// cork collects output for corkConn while its input is processed.
	cork     []byte
	corkConn *Conn
	// encConn is the connection whose Encode runs now; what its codec
	// writes through the Conn meanwhile waits in nested and nestedFiles
	// (see Conn.send).
	encConn     *Conn
	nested      []byte
	nestedFiles []nestedFile
	nestMarks   []encodeMark

	timers      timerHeap
	timerByID   map[TimerID]*timer
	lastTimerID TimerID

	// resumed holds connections whose buffered input must be processed after
	// the current dispatch (ResumeRecv, SetCodec).
	resumed []*Conn

	// backlogged holds the connections with a send timeout whose output
	// waits for EPOLLOUT; sendTimer checks them while there are any.
	backlogged []backlog
	sendTimer  TimerID

	stats Stats

	// TLS (tls_linux.go): handshakes running and waiting for a turn, the
	// plaintext of one read, the records of one seal, a file piece.
	tlsInFlight int
	tlsWaiting  []*Conn
	tlsPlain    []byte
	tlsOut      []byte
	fileBuf     []byte
	// Handshakes finished since memory was last given back, and the timer
	// that waits for their burst to end (tlsHandshakeDone).
	tlsSinceRelease int
	tlsReleaseTimer TimerID
	// Connections opened or closed since memory was last given back, and
	// the timer that waits for their burst to end (release_linux.go).
	churn      int
	churnTimer TimerID

	owner      atomic.Uintptr // currentG() of Run; 0 before Run, deadOwner after
	goid       atomic.Uint64  // goroutineID() of Run while it runs (GoroutineID)
	running    atomic.Bool
	stopping   bool
	wakeSignal atomic.Bool
	taskMu     sync.Mutex
	closed     bool // under taskMu: no more tasks are accepted
	tasks      []func()
	spare      []func()
	closeOnce  sync.Once

	// BeforeShutdown runs on the loop when Run is about to tear down
	// listeners and connections (the worker's OnWorkerStop).
	BeforeShutdown func()
	// MoveIdle, when set (by a process handing its connections to a
	// replacement), is offered each connection about to frame input: after
	// a read, or when input held during a response is resumed. It returns
	// true when it took the connection (Detach), whose unframed input then
	// travels with it. Catching a keep-alive connection there, between a
	// response and the next request, is what lets a busy connection move:
	// a poll would rarely find it idle. Loop-only.
	MoveIdle func(c *Conn) bool
}

// New creates a loop with its epoll instance and wakeup eventfd.
func New(cfg Config) (*Loop, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = defaultReadBuffer
	}
	if cfg.AcceptBatch <= 0 {
		cfg.AcceptBatch = defaultAcceptBatch
	}
	if cfg.AcceptPause <= 0 {
		cfg.AcceptPause = defaultAcceptPause
	}
	if cfg.MaxTLSHandshakes <= 0 {
		cfg.MaxTLSHandshakes = DefaultMaxTLSHandshakes
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &Loop{
		log:       cfg.Logger.Named("netloop"),
		cfg:       cfg,
		epfd:      epfd,
		efd:       efd,
		start:     time.Now(),
		listeners: map[int]*Listener{},
		events:    make([]unix.EpollEvent, 128),
		rbuf:      make([]byte, cfg.ReadBufferSize),
		timerByID: map[TimerID]*timer{},
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, efd, unix.EPOLLIN, 0); err != nil {
		l.closeFDs()
		return nil, err
	}
	return l, nil
}

func (l *Loop) now() int64 { return int64(time.Since(l.start)) }

// Logger is the loop's logger.
func (l *Loop) Logger() *zap.Logger { return l.log }

// Stats returns the loop's counters. Loop-only.
func (l *Loop) Stats() Stats {
	s := l.stats
	s.Timers = len(l.timers)
	for _, ln := range l.listeners {
		if ln.starved {
			s.AcceptPaused++
		}
	}
	return s
}

// deadOwner marks a loop whose Run has returned: no goroutine is on it.
const deadOwner = ^uintptr(0)

// OnLoop reports whether the caller runs on the loop goroutine. Safe from any
// goroutine. Before Run it reports true: setup code owns the loop then.
func (l *Loop) OnLoop() bool {
	owner := l.owner.Load()
	return owner == 0 || owner == currentG()
}

// Running reports whether Run is in progress. Safe from any goroutine.
func (l *Loop) Running() bool { return l.running.Load() }

// Post runs fn on the loop goroutine at its next turn. Safe from any
// goroutine. Tasks run in the order they were posted; a task posted after the
// loop stopped never runs.
func (l *Loop) Post(fn func()) {
	l.taskMu.Lock()
	defer l.taskMu.Unlock()
	if l.closed {
		return
	}
	l.tasks = append(l.tasks, fn)
	// One eventfd write per batch: later posters see the flag set and know a
	// wakeup is already on its way. The write happens under taskMu so it can
	// never hit the eventfd after shutdown closed it (and its number was
	// perhaps reused).
	if l.wakeSignal.CompareAndSwap(false, true) {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		if _, err := unix.Write(l.efd, one[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
			l.log.Warn("eventfd write failed", zap.Error(err))
		}
	}
}

func (l *Loop) runTasks() {
	var drain [8]byte
	_, _ = unix.Read(l.efd, drain[:])
	l.wakeSignal.Store(false)
	l.taskMu.Lock()
	batch := l.tasks
	l.tasks = l.spare[:0]
	l.taskMu.Unlock()
	for i, fn := range batch {
		l.callTask(fn)
		batch[i] = nil
	}
	l.spare = batch[:0]
}

// Guard runs fn under the loop's panic guard: a panic is logged with its
// stack and counted in Stats.Exceptions instead of ending the loop.
// Loop-only.
func (l *Loop) Guard(where string, fn func()) {
	defer l.recoverPanic(nil, where)
	fn()
}

func (l *Loop) callTask(fn func()) {
	defer l.recoverPanic(nil, "task")
	fn()
}

// Stop asks the loop to shut down: Run returns after closing every listener
// and connection. Safe from any goroutine.
func (l *Loop) Stop() { l.Post(func() { l.stopping = true }) }

// Run dispatches events until Stop, on the calling goroutine. Where the
// goroutine identity is the thread id (lockThread), it locks the goroutine
// to its thread for the loop's life; on amd64 and arm64 it does not.
func (l *Loop) Run() error {
	if lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	l.owner.Store(currentG())
	l.goid.Store(goroutineID())
	l.running.Store(true)
	defer func() {
		l.running.Store(false)
		l.goid.Store(0)
		l.owner.Store(deadOwner)
	}()

	for !l.stopping {
		timeout := l.timeoutMillis()
		if len(l.resumed) > 0 {
			timeout = 0
		}
		if l.tlsInFlight > 0 && timeout != 0 {
			// A handshake goroutine this turn made runnable (started, or
			// fed the bytes it waited for) sits on this goroutine's P.
			// epoll_wait blocks the thread without giving the P up, so with
			// one P (a child pinned to one core) the handshake would wait
			// for the runtime's monitor to take the P back, up to 10 ms on
			// an otherwise idle process, at every step of every handshake.
			// Let it run first; it posts what it writes, which ends the
			// wait below at once.
			runtime.Gosched()
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		l.tick = l.now()
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return os.NewSyscallError("epoll_wait", err)
		}
		for i := range n {
			ev := &l.events[i]
			l.dispatch(int(ev.Fd), uint32(ev.Pad), ev.Events)
		}
		if n == len(l.events) && n < 4096 {
			l.events = make([]unix.EpollEvent, 2*n)
		}
		l.processResumed()
		l.runTimers()
	}
	l.shutdown()
	return nil
}

func (l *Loop) dispatch(fd int, gen uint32, events uint32) {
	if fd == l.efd {
		l.runTasks()
		return
	}
	if fd < len(l.conns) {
		if c := l.conns[fd]; c != nil && c.gen == gen {
			c.handleEvents(events)
			return
		}
	}
	if ln, ok := l.listeners[fd]; ok {
		ln.accept()
		return
	}
	// A stale event for an fd closed earlier in this batch (and maybe already
	// reused by a connection with a newer generation): nothing to do.
}

func (l *Loop) processResumed() {
	for len(l.resumed) > 0 {
		batch := l.resumed
		l.resumed = nil
		for _, c := range batch {
			c.flags &^= flagResumeQueued
			c.processBuffered()
		}
	}
}

func (l *Loop) shutdown() {
	if l.BeforeShutdown != nil {
		func() {
			defer l.recoverPanic(nil, "shutdown hook")
			l.BeforeShutdown()
		}()
	}
	for fd, ln := range l.listeners {
		delete(l.listeners, fd)
		ln.close()
	}
	for _, c := range l.conns {
		if c != nil {
			c.destroy()
		}
	}
	l.DelAllTimers()
	l.closeFDs()
}

// closeFDs closes the epoll instance and the eventfd. Tasks posted from now
// on are dropped: nothing runs after shutdown.
func (l *Loop) closeFDs() {
	l.closeOnce.Do(func() {
		l.taskMu.Lock()
		l.closed = true
		l.tasks = nil
		unix.Close(l.efd)
		unix.Close(l.epfd)
		l.taskMu.Unlock()
	})
}

// Close releases a loop that was never run, with its listeners. A loop that
// ran is released by Run itself.
func (l *Loop) Close() {
	if l.running.Load() || l.owner.Load() != 0 {
		return
	}
	for fd, ln := range l.listeners {
		delete(l.listeners, fd)
		ln.close()
	}
	l.closeFDs()
}

func (l *Loop) ctl(op, fd int, events uint32, gen uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(gen)}
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		name := "epoll_ctl"
		switch op {
		case unix.EPOLL_CTL_ADD:
			name = "epoll_ctl add"
		case unix.EPOLL_CTL_MOD:
			name = "epoll_ctl mod"
		case unix.EPOLL_CTL_DEL:
			name = "epoll_ctl del"
		}
		return os.NewSyscallError(name, err)
	}
	return nil
}

// recoverPanic is deferred around every callback. A panic is logged with its
// stack and counted, and the connection it came from (if any) is destroyed;
// the loop and every other connection carry on.
func (l *Loop) recoverPanic(c *Conn, where string) {
	r := recover()
	if r == nil {
		return
	}
	l.stats.Exceptions++
	fields := []zap.Field{zap.String("in", where), zap.Any("panic", r), zap.Stack("stack")}
	if c != nil {
		fields = append(fields, zap.Uint64("conn", c.id))
	}
	l.log.Error("callback panicked", fields...)
	inEncode := l.encConn != nil
	if inEncode {
		// The panic unwound an Encode: what it wrote through the Conn
		// will never be sent.
		l.dropNested()
	}
	if c != nil {
		if l.corkConn == c {
			l.corkConn = nil
			l.cork = l.cork[:0]
		}
		if a, ok := c.codec.(codec.PanicAnswerer); ok && !inEncode && c.status < StatusClosing && a.AnswerPanic() {
			return
		}
		c.destroy()
	}
}

func (l *Loop) register(c *Conn, events uint32) error {
	l.lastGen++
	c.gen = l.lastGen
	if err := l.ctl(unix.EPOLL_CTL_ADD, c.fd, events, c.gen); err != nil {
		return err
	}
	c.events = events
	for c.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*Conn, max(64, len(l.conns)))...)
	}
	l.conns[c.fd] = c
	return nil
}

func (l *Loop) nextConnID() uint64 {
	l.lastID++
	return l.lastID
}

func errnoName(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		return unix.ErrnoName(en)
	}
	return fmt.Sprint(err)
}
