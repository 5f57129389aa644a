package workerman

import (
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// ErrNotOnLoop is returned by Listen called anywhere but on a running
// process's event loop.
var ErrNotOnLoop = errors.New("workerman: Listen must be called on a running process's event loop (in OnWorkerStart or another callback)")

// ErrAddressInUse wraps the error of a Listen whose address another program
// holds (a socket without SO_REUSEPORT, or one of another user).
var ErrAddressInUse = errors.New("address in use by another program")

// pendingAcceptLimit bounds how many waiting connections a run-time
// listener accepts as it closes (see closeListeners).
const pendingAcceptLimit = 1024

// running is the set of processes whose Run is in progress. Listen has no
// Process to name (Workerman's $worker->listen() takes none either), so it
// finds its process here: the one whose loop is the calling goroutine. A
// daemon child runs one process; tests may run several at once.
var running struct {
	mu sync.Mutex
	ps []*Process
}

// addRunning makes p findable by Listen until the returned func runs.
func addRunning(p *Process) (remove func()) {
	running.mu.Lock()
	running.ps = append(running.ps, p)
	running.mu.Unlock()
	return func() {
		running.mu.Lock()
		defer running.mu.Unlock()
		for i, q := range running.ps {
			if q == p {
				running.ps = append(running.ps[:i], running.ps[i+1:]...)
				return
			}
		}
	}
}

// callingProcess is the running process whose loop calls it, or nil.
func callingProcess() *Process {
	running.mu.Lock()
	defer running.mu.Unlock()
	for _, p := range running.ps {
		// Running first: before Run, OnLoop is true for every goroutine.
		if p.loop.l.Running() && p.loop.l.OnLoop() {
			return p
		}
	}
	return nil
}

// Listen starts w listening in the current process, at once, as Workerman's
// $worker->listen(): call it on the loop (in OnWorkerStart, typically with a
// Worker built there) to add an internal port to a process of the daemon,
// or of a foreground Process. The worker serves on the same loop, so its
// connections count in this process's Stats and status row; it adds no
// process, runs no OnWorkerStart, and its OnWorkerStop runs when the
// process stops, which closes it. Count is ignored: each process that calls
// Listen has its own listener.
//
// Listen sets ReusePort: the socket is bound with SO_REUSEPORT, so every
// process of a worker with Count > 1 can listen on the same address, and on
// reload the replacement process binds while the old one still holds the
// port (the old one closes its socket as it retires). Connections of a
// run-time listener are never handed over on reload: the old process closes
// them as it closes its own worker's. Unix socket paths are refused, since
// two processes cannot bind one path at once.
//
// The errors name the worker and address: ErrNotOnLoop, a bad address or
// option, ErrAddressInUse when another program holds the port.
func (w *Worker) Listen() error {
	p := callingProcess()
	if p == nil {
		return fmt.Errorf("worker %q: listen on %s: %w", w.Name, w.ListenAddr, ErrNotOnLoop)
	}
	return p.listenAtRunTime(w)
}

// listenAtRunTime binds w and adds it to p's workers. Loop-only.
func (p *Process) listenAtRunTime(w *Worker) error {
	if w.loop != nil {
		return fmt.Errorf("worker %q: listen on %s: it belongs to a process already", w.Name, w.ListenAddr)
	}
	if p.stopping {
		return fmt.Errorf("worker %q: listen on %s: the process is stopping", w.Name, w.ListenAddr)
	}
	if err := w.validate(); err != nil {
		return err
	}
	if w.addr.IsPath() {
		return fmt.Errorf("worker %q: listen on %s: a run-time listener cannot be a Unix socket (the process replacing this one on reload could not bind the path while this one holds it): declare it as a worker of its own", w.Name, w.ListenAddr)
	}
	if w.Handler != nil {
		if err := w.Handler.Attach(w); err != nil {
			return fmt.Errorf("worker %q: attach handler: %w", w.Name, err)
		}
	}
	// SO_REUSEPORT rather than a socket the master holds: the master binds
	// only what the config names, before any child runs, while this socket
	// exists only once user code asked for it. With SO_REUSEPORT the
	// replacement binds its own socket next to the old one's, the kernel
	// spreads connections over both, and the old one's leaves the group
	// when it closes; no new message between child and master is needed.
	w.ReusePort = true
	w.listened = true
	i := len(p.workers)
	p.workers = append(p.workers, w)
	p.fds = append(p.fds, -1)
	p.sweeps = append(p.sweeps, workerSweep{})
	undo := func() {
		p.workers, p.fds, p.sweeps = p.workers[:i], p.fds[:i], p.sweeps[:i]
		w.loop, w.conns, w.listened = nil, nil, false
		w.closeChannel()
	}
	if err := w.connectChannel(p.loop); err != nil {
		undo()
		return err
	}
	if err := p.listen(i, w); err != nil {
		undo()
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("%w (%w: a run-time listener shares its port only with SO_REUSEPORT sockets of the same user)", err, ErrAddressInUse)
		}
		return err
	}
	if err := p.accept(i); err != nil {
		undo()
		return err
	}
	p.workerLog(w).Info("worker listening", zap.String("listen", w.listenName()), zap.Bool("run_time", true))
	return nil
}

// acceptPendingRunTime accepts what waits on the run-time listeners before
// they close. Their sockets are this process's own (SO_REUSEPORT), unlike a
// configured worker's, which the master keeps open for the replacement:
// closing one resets the connections queued on it. Loop-only.
func (p *Process) acceptPendingRunTime() {
	for _, w := range p.workers {
		if w.listened && w.listener != nil {
			w.listener.AcceptPending(pendingAcceptLimit)
		}
	}
}
