package workerman

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/logging"
	"github.com/workermand/workermand/internal/netloop"
	"github.com/workermand/workermand/internal/proxyproto"
	"github.com/workermand/workermand/internal/sockets"
)

// ProcessOptions configure a Process.
type ProcessOptions struct {
	// Logger receives the process's logs (none when nil).
	Logger *zap.Logger
	// AcceptBatch caps connections accepted per listener wakeup (32).
	AcceptBatch int
	// Listeners holds sockets already bound (by the daemon's master) for
	// some workers; the process takes ownership of them. Other workers bind
	// their own.
	Listeners map[*Worker]*os.File
	// OnReady runs on the loop once every OnWorkerStart has returned and
	// the process accepts connections.
	OnReady func()
}

// Process runs workers on one event loop in this process: what each child of
// the daemon runs, and what tests and foreground tools use.
type Process struct {
	loop    *EventLoop
	workers []*Worker
	fds     []int // listening sockets not yet handed to the loop, or -1
	log     *zap.Logger
	opts    ProcessOptions
	// handover, when set by a retiring child, receives the connections that
	// can move to its replacement instead of being closed. Loop-only.
	handover func(w *Worker, hs []netloop.Handover)
	// moving collects connections caught between requests (moveIdle)
	// until the end of the loop turn, so they travel in few messages.
	moving map[*Worker][]netloop.Handover
	// The sweep closes idle connections (IdleTimeout) and those whose codec
	// says they expired (codec.Expirer): one timer for the process, started
	// once a worker needs it. Loop-only.
	sweepTimer netloop.TimerID
	sweepEvery time.Duration
	sweeps     []workerSweep // by worker index

	// stopDaemon, set in a daemon's child, asks the master to stop the
	// whole daemon (StopAll).
	stopDaemon func()

	// unixFiles are the Unix socket files this process bound itself (a
	// daemon's children inherit theirs, and the master removes them);
	// removed once it stops listening.
	unixFiles []sockets.UnixFile
	// stopping is set once the process stops accepting: Listen refuses to
	// add a listener then. Loop-only.
	stopping bool
	// ticketKeys are the TLS session-ticket keys of a daemon child's
	// servers, from its master; nil otherwise (ticketkeys.go).
	ticketKeys *sessionTicketKeys
}

// expireEvery is how often connections whose codec has timeouts of its own
// (codec.Expirer) are asked whether they expired.
const expireEvery = time.Second

// workerSweep is what the sweep knows about one worker.
type workerSweep struct {
	expiring     bool      // some connection had a codec.Expirer codec
	idle, expire time.Time // when IdleTimeout and Expired were last checked
}

// NewProcess validates the workers, binds their listening sockets and builds
// the event loop. Nothing is accepted until Run has called OnWorkerStart.
func NewProcess(opts ProcessOptions, workers ...*Worker) (*Process, error) {
	if len(workers) == 0 {
		return nil, errors.New("workerman: no workers to run")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var errs []error
	for _, w := range workers {
		if w.loop != nil {
			errs = append(errs, fmt.Errorf("worker %q already belongs to a process", w.Name))
			continue
		}
		if err := w.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if w.Handler != nil {
			if err := w.Handler.Attach(w); err != nil {
				errs = append(errs, fmt.Errorf("worker %q: attach handler: %w", w.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l, err := netloop.New(netloop.Config{Logger: log, AcceptBatch: opts.AcceptBatch})
	if err != nil {
		return nil, fmt.Errorf("create event loop: %w", err)
	}
	p := &Process{loop: newEventLoop(l), workers: workers, log: log, fds: make([]int, len(workers)), opts: opts,
		sweeps: make([]workerSweep, len(workers))}
	for i, w := range workers {
		if err := p.listen(i, w); err != nil {
			// Release what was bound so far; the workers can be used again.
			p.closeUnaccepted()
			for _, w := range workers[:i] {
				w.loop, w.conns, w.bound = nil, nil, netip.AddrPort{}
			}
			l.Close()
			return nil, err
		}
	}
	return p, nil
}

// listen binds w's listening socket. The loop accepts from it only once
// every OnWorkerStart has returned (see Run).
func (p *Process) listen(i int, w *Worker) error {
	p.fds[i] = -1
	if w.ListenAddr == "" {
		w.loop, w.conns = p.loop, map[uint64]*Connection{}
		return nil
	}
	var fd int
	var err error
	if f, ok := p.opts.Listeners[w]; ok {
		fd, err = adoptSocket(f)
	} else {
		fd, err = p.bind(w)
	}
	if err != nil {
		return fmt.Errorf("worker %q: listen on %s: %w", w.Name, w.ListenAddr, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("worker %q: listen on %s: %w", w.Name, w.ListenAddr, os.NewSyscallError("getsockname", err))
	}
	p.fds[i] = fd
	w.bound = sockets.SockaddrToAddrPort(sa)
	w.loop = p.loop
	w.conns = map[uint64]*Connection{}
	return nil
}

// adoptSocket takes a close-on-exec duplicate of an inherited socket and
// closes the file. It goes through SyscallConn because File.Fd would switch
// the socket to blocking mode.
func adoptSocket(f *os.File) (int, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("inherited socket: %w", err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(raw uintptr) {
		fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("inherited socket: %w", err)
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", dupErr)
	}
	return fd, nil
}

// accept hands the listening socket of worker i to the loop. Loop-only.
func (p *Process) accept(i int) error {
	w, fd := p.workers[i], p.fds[i]
	if w.ListenAddr == "" {
		return nil // nothing to accept
	}
	p.fds[i] = -1
	ln, err := w.addSocket(p.loop.l, fd, netloop.ListenerConfig{
		Protocol:       proxyproto.Wrap(w.proto, w.ProxyProtocol),
		NewConn:        w.newConn,
		Shared:         w.Count > 1 && !w.ReusePort,
		MaxPackageSize: w.MaxPackageSize,
		MaxSendBuffer:  w.MaxSendBufferSize,
		SendTimeout:    w.SendTimeout,
		MaxConns:       w.MaxConnections,
		TLS:            w.tlsServer(p.ticketKeys),
		OnExpirer: func() {
			p.sweeps[i].expiring = true
			p.startSweep()
		},
	})
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("worker %q: %w", w.Name, err)
	}
	w.listener = ln
	if w.IdleTimeout > 0 {
		p.startSweep()
	}
	return nil
}

// startSweep starts the process's sweep timer unless it runs already. It
// ticks as often as the most demanding worker needs; each worker is walked
// only when one of its own checks is due, and both checks share the walk.
// Loop-only.
func (p *Process) startSweep() {
	if p.sweepTimer != 0 {
		return
	}
	every := expireEvery
	for _, w := range p.workers {
		if w.IdleTimeout > 0 {
			every = min(every, idleSweepEvery(w.IdleTimeout))
		}
	}
	p.sweepEvery = every
	p.sweepTimer = p.loop.l.AddSystemTimer(every, true, p.sweep)
}

func (p *Process) sweep() {
	now := time.Now()
	// Ticks are sweepEvery apart give or take the loop's lateness: half a
	// tick of slack keeps a check due every n ticks from slipping to n+1.
	slack := p.sweepEvery / 2
	for i, w := range p.workers {
		s := &p.sweeps[i]
		idleDue := w.IdleTimeout > 0 && now.Sub(s.idle) >= idleSweepEvery(w.IdleTimeout)-slack
		expireDue := s.expiring && now.Sub(s.expire) >= expireEvery-slack
		if idleDue {
			s.idle = now
		}
		switch {
		case expireDue:
			s.expire = now
			w.closeExpired(now, idleDue)
		case idleDue:
			w.closeIdle()
		}
	}
}

// closeExpired closes the connections whose codec says they expired, and,
// with idle set, those silent for IdleTimeout, in one walk. Loop-only.
func (w *Worker) closeExpired(now time.Time, idle bool) {
	for _, c := range w.conns {
		d := c.nc.IdleFor()
		if idle && d >= w.IdleTimeout {
			c.Close()
			continue
		}
		if e, ok := c.nc.Codec().(codec.Expirer); ok && e.Expired(now, d) {
			c.Close()
		}
	}
}

// idleSweepEvery is how often idle connections are looked for: a quarter of
// the timeout, within 100 ms and 1 s, so a connection closes at most that
// much after its deadline.
func idleSweepEvery(idle time.Duration) time.Duration {
	return min(max(idle/4, 100*time.Millisecond), time.Second)
}

// closeUnaccepted closes the listening sockets not handed to the loop.
func (p *Process) closeUnaccepted() {
	for i, fd := range p.fds {
		if fd >= 0 {
			unix.Close(fd)
			p.fds[i] = -1
		}
	}
	p.removeSocketFiles()
}

// Loop is the process's event loop.
func (p *Process) Loop() *EventLoop { return p.loop }

// Run calls every OnWorkerStart on the loop, then serves until ctx is done or
// Stop is called. On the way out it calls OnWorkerStop, then closes the
// listeners and every connection (OnClose runs for each).
func (p *Process) Run(ctx context.Context) error {
	l := p.loop.l
	defer addRunning(p)()
	l.BeforeShutdown = func() {
		p.stopping = true
		for _, w := range p.workers {
			if w.OnWorkerStop != nil {
				p.call("OnWorkerStop", w, w.OnWorkerStop)
			}
			w.stopChannel()
		}
	}
	// After the loop: the connections it closed last have left their
	// uids and groups, and OnClose could still publish.
	defer func() {
		for _, w := range p.workers {
			w.closeChannel()
		}
	}()
	var startErr error
	l.Post(func() {
		// The channel first: OnWorkerStart may send to a uid already.
		for _, w := range p.workers {
			if err := w.connectChannel(p.loop); err != nil {
				startErr = errors.Join(startErr, err)
			}
		}
		if startErr != nil {
			l.Stop()
			return
		}
		for _, w := range p.workers {
			if w.OnWorkerStart != nil {
				p.call("OnWorkerStart", w, w.OnWorkerStart)
			}
		}
		// As in Workerman, accepting starts once OnWorkerStart has returned:
		// connections already waiting in the backlog must not reach
		// OnConnect before it.
		for i, w := range p.workers {
			if w.listened {
				continue // Listen in OnWorkerStart: accepting already
			}
			if err := p.accept(i); err != nil {
				startErr = errors.Join(startErr, err)
				continue
			}
			p.workerLog(w).Info("worker started", zap.String("listen", w.listenName()))
		}
		if startErr != nil {
			l.Stop()
			return
		}
		if p.opts.OnReady != nil {
			p.loop.l.Guard("OnReady", p.opts.OnReady)
		}
	})
	defer p.closeUnaccepted()
	defer func() {
		// After the loop: connections closing at shutdown still log.
		for _, w := range p.workers {
			if err := w.closeProtocol(); err != nil {
				p.workerLog(w).Warn("closing the protocol's files", zap.Error(err))
			}
		}
	}()
	stop := context.AfterFunc(ctx, l.Stop)
	defer stop()
	if err := l.Run(); err != nil {
		return fmt.Errorf("event loop: %w", err)
	}
	return startErr
}

// Stop ends Run. Safe from any goroutine.
func (p *Process) Stop() {
	p.loop.l.Post(func() {
		p.sayFarewell()
		p.loop.l.Stop()
	})
}

// sayFarewell closes the connections whose protocol says goodbye
// (codec.Farewell: websocket's 1001) that way, just before the process
// ends the rest with it: peers learn the server went away instead of
// seeing the connection drop. Loop-only.
func (p *Process) sayFarewell() {
	for _, w := range p.workers {
		for _, c := range w.conns {
			if _, ok := c.nc.Codec().(codec.Farewell); ok {
				c.nc.CloseGoingAway()
			}
		}
	}
}

// workerLog is the logger for lines about worker w: they name it, since a
// process may run several, unless the logger names it on every line already
// (a daemon child's does), as a key given twice makes an invalid JSON line.
func (p *Process) workerLog(w *Worker) *zap.Logger {
	if logging.HasField(p.log, "worker") {
		return p.log
	}
	return p.log.With(zap.String("worker", w.Name))
}

// drainPoll is how often a graceful stop checks whether connections are
// gone.
const drainPoll = 50 * time.Millisecond

// StopGracefully stops accepting at once, lets open connections finish, and
// ends Run when none is left or when timeout passes (0 waits forever). Safe
// from any goroutine.
func (p *Process) StopGracefully(timeout time.Duration) {
	p.loop.l.Post(func() {
		p.closeListeners()
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		check := func() {
			p.moveConnections()
			p.closeBetweenRequests(p.handover != nil)
			open := 0
			for _, w := range p.workers {
				open += len(w.conns)
			}
			if open == 0 || !deadline.IsZero() && time.Now().After(deadline) {
				p.sayFarewell()
				p.loop.l.Stop()
			}
		}
		check()
		p.loop.l.AddSystemTimer(drainPoll, true, check)
	})
}

// closeBetweenRequests closes the connections whose protocol says they are
// between requests (a keep-alive HTTP connection waiting for the next one):
// a graceful stop has nothing to wait for on them, as nginx closes idle
// keep-alive connections when it shuts down. With onlyUnmovable (the
// connections that can move are handed over instead) it closes only those
// that cannot move: TLS ones, whose state lives in crypto/tls, and a run-time
// listener's (see moveIdle). Loop-only.
func (p *Process) closeBetweenRequests(onlyUnmovable bool) {
	for _, w := range p.workers {
		for _, c := range w.conns {
			if onlyUnmovable && !c.nc.IsTLS() && !w.listened {
				continue
			}
			m, ok := c.nc.Codec().(codec.Migrator)
			if !ok || c.SendQueueSize() != 0 || c.RecvQueueSize() != 0 || c.nc.Unread() != 0 {
				continue
			}
			if _, idle := m.Migrate(); idle {
				c.Close()
			}
		}
	}
}

// StopWhenQuiet stops accepting at once and closes each connection once it
// has been quiet for quiet (nothing read, nothing buffered either way), so
// requests already sent are answered; Run ends when none is left, or at
// timeout (0: stop_timeout's default of 2 s) with whatever remains closed.
// Safe from any goroutine.
func (p *Process) StopWhenQuiet(quiet, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	p.loop.l.Post(func() {
		p.closeListeners()
		deadline := time.Now().Add(timeout)
		check := func() {
			p.moveConnections()
			open := 0
			for _, w := range p.workers {
				for _, c := range w.conns {
					// A connection whose protocol can move it is left to
					// moveConnections: quiet may just mean its request is
					// still being answered (an HTTP handler waiting on a
					// backend), and once answered it moves instead. A TLS
					// connection never moves (its state is crypto/tls's),
					// nor does a run-time listener's (see moveIdle): they
					// drain here like any other.
					if _, movable := c.nc.Codec().(codec.Migrator); movable && p.handover != nil && !c.nc.IsTLS() && !w.listened {
						open++
						continue
					}
					// A client that connected has not spoken yet, but it
					// will: its connect may return 100 ms after the kernel
					// handed us the connection when its process is
					// descheduled (seen under CI load), so silence since
					// the accept is not quiet. Such a connection waits for
					// its first request until the deadline.
					if c.BytesRead() == 0 && !c.nc.Adopted() {
						open++
						continue
					}
					// Unread last: a request may wait in the kernel even when
					// the loop saw nothing for a while (it was descheduled).
					if c.nc.IdleFor() >= quiet && c.SendQueueSize() == 0 && c.RecvQueueSize() == 0 && c.nc.Unread() == 0 {
						c.nc.CloseGoingAway()
						continue
					}
					open++
				}
			}
			if open == 0 || time.Now().After(deadline) {
				p.sayFarewell()
				p.loop.l.Stop()
			}
		}
		check()
		p.loop.l.AddSystemTimer(quiet/4, true, check)
	})
}

// handOver makes p hand its movable connections to send instead of closing
// them: those idle now and at each stop poll (moveConnections), and, since a
// busy keep-alive connection is seldom idle when a poll looks, each one the
// moment it has input to frame and nothing in flight (moveIdle). Loop-only.
func (p *Process) handOver(send func(w *Worker, hs []netloop.Handover)) {
	p.handover = send
	p.loop.l.MoveIdle = p.moveIdle
}

// moveIdle detaches nc if it can move now; the batch leaves at the end of
// the loop turn. Loop-only.
func (p *Process) moveIdle(nc *netloop.Conn) bool {
	ev, ok := nc.Handler().(*connEvents)
	if !ok || ev.worker == nil || ev.worker.listened {
		// An outbound connection, or one of a run-time listener, which the
		// replacement has not among the workers the master knows: not the
		// replacement's to serve.
		return false
	}
	h, err := nc.Detach()
	if err != nil {
		return false
	}
	w := ev.worker
	delete(w.conns, nc.ID())
	// The replacement adopts it without its uid and groups.
	w.forget(&ev.Connection)
	if p.moving == nil {
		p.moving = map[*Worker][]netloop.Handover{}
		p.loop.l.Post(p.flushMoving)
	}
	p.moving[w] = append(p.moving[w], h)
	return true
}

func (p *Process) flushMoving() {
	moving := p.moving
	p.moving = nil
	for _, w := range p.workers {
		if hs := moving[w]; len(hs) > 0 {
			p.handover(w, hs)
		}
	}
}

// moveConnections hands every connection that can move right now (idle,
// its protocol a codec.Migrator) to p.handover. The user sees no OnClose:
// the connection lives on in the replacement. Loop-only.
func (p *Process) moveConnections() {
	if p.handover == nil {
		return
	}
	// Before a stop poll may end the loop: what moveIdle caught goes first.
	p.flushMoving()
	for _, w := range p.workers {
		if w.listened {
			continue // see moveIdle
		}
		var moved []netloop.Handover
		for id, c := range w.conns {
			h, err := c.nc.Detach()
			if err != nil {
				continue
			}
			delete(w.conns, id)
			w.forget(c)
			moved = append(moved, h)
		}
		if len(moved) > 0 {
			p.handover(w, moved)
		}
	}
}

func (p *Process) closeListeners() {
	p.stopping = true
	p.acceptPendingRunTime()
	for _, w := range p.workers {
		if w.listener != nil {
			w.listener.Close()
			w.listener = nil
		}
	}
	p.removeSocketFiles()
}

// Workers are the process's workers.
func (p *Process) Workers() []*Worker { return p.workers }

// errLoopBusy reports a loop that did not answer in time.
var errLoopBusy = errors.New("workerman: the event loop did not answer in time (busy)")

// onLoopWait runs fn on the loop and waits for it up to timeout. It reports
// errLoopBusy when the loop is stuck in a callback, which the status command
// shows as "busy". Safe from any goroutine but the loop's.
func (p *Process) onLoopWait(timeout time.Duration, fn func()) error {
	done := make(chan struct{})
	p.loop.l.Post(func() {
		fn()
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return errLoopBusy
	}
}

// call runs a worker-level callback under the loop's panic guard: a panic is
// logged and counted and does not keep the other workers from starting or
// stopping.
func (p *Process) call(name string, w *Worker, fn func(*Worker)) {
	p.loop.l.Guard(name+" of "+w.Name, func() { fn(w) })
}
