package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
	"github.com/workermand/workermand/internal/sockets"
)

// Options configure a Master.
type Options struct {
	// Executable is the binary children run: the path on disk resolved at
	// start, so a reload after a deploy that replaced it runs the new one.
	Executable string
	Logger     *zap.Logger
	// LogFile returns the master's current log file to pass to children,
	// or nil when logs go to stderr.
	LogFile func() *os.File
	// ReopenLogs reopens the master's log file (logrotate).
	ReopenLogs func() error
	// Stdout receives the children's standard output and error.
	Stdout io.Writer
	// Load re-reads and validates the config for a reload.
	Load func(path string) (*config.Config, error)
	// Daemonized changes SIGHUP from "stop" (the terminal went away) to
	// "reopen logs".
	Daemonized bool
	// Notify, when set, receives sd_notify-style state changes: "READY=1",
	// "RELOADING=1", "STOPPING=1", "STATUS=…".
	Notify func(state string)
	// Version is reported by status.
	Version string

	ReadyTimeout time.Duration // for a child to report ready (30 s)
	BackoffMin   time.Duration // first delay of a crash-looping slot (100 ms)
	BackoffMax   time.Duration // longest delay (10 s)
	StableAfter  time.Duration // a child that lived this long resets its slot's backoff (5 s)
	// TicketKeyRotation is how often the TLS session-ticket keys rotate
	// (DefaultTicketKeyRotation); tests shorten it.
	TicketKeyRotation time.Duration

	// Upgrade builds the command of a new master for `upgrade` (the same
	// binary path, arguments and environment); nil refuses upgrades.
	Upgrade func() (*exec.Cmd, error)
	// LockFile is the pid-file lock's descriptor, handed to the new master.
	LockFile func() *os.File
	// UpgradeTimeout bounds a new master's start (DefaultUpgradeTimeout).
	UpgradeTimeout time.Duration
	// Inherit is what this master takes over instead of binding: from the
	// master it replaces, or from systemd (upgrade.go, activation.go).
	Inherit *Inheritance
}

// Master supervises the children of one configuration.
type Master struct {
	opts Options
	log  *zap.Logger
	cfg  *config.Config

	sockets    map[sockKey]int              // listening sockets, owned for the master's life
	unixFiles  map[sockKey]sockets.UnixFile // the files of the Unix ones, removed with them
	slots      map[slotKey]*slot
	generation int
	started    time.Time
	exitCounts map[string]map[string]int

	exits       chan exitEvent
	childEvents chan childEvent
	requests    chan *request
	done        chan struct{}
	stopping    bool
	stopDone    chan struct{}
	reloading   *reloadOp
	qps         map[int]qpsSample
	// ticketKeys are the TLS session-ticket keys, kept for the master's
	// life so that a reload keeps sessions resumable (ticketkeys.go).
	ticketKeys *ticketKeyRing
	// monitor is the [monitor] file watch (monitor.go).
	monitor monitorState
	// metrics is the [metrics] endpoint and what it counts (metrics.go).
	metrics metricsState
	// control is the control socket's listener (control.go).
	control controlState
	// upgrading is the upgrade this master started, kept once it is done
	// (upgrade.go); inheritedFiles are the Unix socket files taken over
	// from an old master, its own once the upgrade commits.
	upgrading      *upgradeOp
	inheritedFiles map[sockKey]sockets.UnixFile
}

// sockKey is a listening socket's identity across reloads: a reload keeps
// the socket whose key the new config still has. The kind is part of it
// because one listen address may name a TCP or a UDP socket (transport =
// "udp"), and a socket's type cannot change: a worker moved between them
// needs a new socket.
type sockKey struct {
	worker string
	listen string
	kind   string // socketKind
	id     int    // slot for reuse_port sockets, -1 when shared
}

// socketKind is the type of socket the master binds for w.
func socketKind(w *config.Worker) string {
	switch {
	case w.Transport == "udp":
		return "udp"
	case w.Addr.IsPath():
		return "unix"
	}
	return "tcp"
}

// sockKeyFor is the key of w's socket for slot id.
func sockKeyFor(w *config.Worker, id int) sockKey {
	k := sockKey{worker: w.Name, listen: w.Listen, kind: socketKind(w), id: -1}
	if w.ReusePort {
		k.id = id
	}
	return k
}

// New prepares a master for cfg; Run starts it.
func New(cfg *config.Config, opts Options) *Master {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.StableAfter <= 0 {
		opts.StableAfter = 5 * time.Second
	}
	if opts.TicketKeyRotation <= 0 {
		opts.TicketKeyRotation = DefaultTicketKeyRotation
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stderr
	}
	if opts.LogFile == nil {
		opts.LogFile = func() *os.File { return nil }
	}
	if opts.Notify == nil {
		opts.Notify = func(string) {}
	}
	if opts.UpgradeTimeout <= 0 {
		opts.UpgradeTimeout = DefaultUpgradeTimeout
	}
	m := &Master{
		opts:        opts,
		log:         opts.Logger.With(zap.String("role", "master")),
		cfg:         cfg,
		sockets:     map[sockKey]int{},
		slots:       map[slotKey]*slot{},
		exitCounts:  map[string]map[string]int{},
		exits:       make(chan exitEvent, 16),
		childEvents: make(chan childEvent, 16),
		requests:    make(chan *request),
		done:        make(chan struct{}),
		ticketKeys:  newTicketKeyRing(),
	}
	if in := opts.Inherit; in != nil && in.ch != nil {
		// Go on from what the old master counted.
		st := in.state
		m.generation = st.Generation
		if st.ExitCounts != nil {
			m.exitCounts = st.ExitCounts
		}
		m.metrics.retired, m.metrics.restarts, m.metrics.reloads = st.Retired, st.Restarts, st.Reloads
		if m.metrics.retired != nil && m.metrics.restarts == nil {
			m.metrics.restarts = map[string]uint64{}
		}
		if len(in.keys) > 0 {
			m.ticketKeys.keys = in.keys
		}
	}
	return m
}

// Bind creates every listening socket of the config. It runs before Run so
// that a busy port is reported before anything starts.
func (m *Master) Bind() error {
	for _, w := range m.cfg.Workers {
		if err := m.bindWorker(w); err != nil {
			m.closeSockets(nil)
			return err
		}
	}
	m.closeUnusedInherited()
	if err := m.bindMetrics(); err != nil {
		m.closeSockets(nil)
		return err
	}
	if in := m.opts.Inherit; in != nil && in.metrics != nil {
		in.metrics.Close() // [metrics] is off now
		in.metrics = nil
	}
	return nil
}

func (m *Master) bindWorker(w *config.Worker) error {
	if w.Listen == "" {
		return nil // a worker defined in code that listens on nothing
	}
	keys := []sockKey{sockKeyFor(w, -1)}
	if w.ReusePort {
		keys = keys[:0]
		for id := range w.Count {
			keys = append(keys, sockKeyFor(w, id))
		}
	}
	// Port 0 with reuse_port: the first socket gets a port from the
	// kernel and every other process's socket must share it, or each
	// would listen on a port of its own.
	addr := w.Addr.AddrPort()
	if w.ReusePort && addr.Port() == 0 {
		for _, k := range keys {
			if fd, ok := m.sockets[k]; ok {
				addr = withBoundPort(addr, fd)
				break
			}
		}
	}
	for _, k := range keys {
		if _, ok := m.sockets[k]; ok {
			if err := m.refreshSocketFile(w, k); err != nil {
				return err
			}
			continue
		}
		fd, ok := m.takeInherited(k, inheritAddrOf(w, addr))
		var err error
		if !ok {
			fd, err = m.listenSocket(w, k, addr)
		}
		if err != nil {
			return fmt.Errorf("worker %q: listen on %s: %w", w.Name, w.Listen, err)
		}
		m.sockets[k] = fd
		if w.ReusePort && addr.Port() == 0 && !w.Addr.IsPath() {
			addr = withBoundPort(addr, fd)
		}
	}
	return nil
}

// withBoundPort is addr with the port socket fd is bound to (addr when it
// cannot tell).
func withBoundPort(addr netip.AddrPort, fd int) netip.AddrPort {
	if sa, err := unix.Getsockname(fd); err == nil {
		if ap := sockets.SockaddrToAddrPort(sa); ap.IsValid() {
			return netip.AddrPortFrom(addr.Addr(), ap.Port())
		}
	}
	return addr
}

// socketFor is the listening socket a worker's slot gets.
func (m *Master) socketFor(w *config.Worker, id int) (int, bool) {
	fd, ok := m.sockets[sockKeyFor(w, id)]
	return fd, ok
}

// closeSockets closes the sockets for which keep reports false (all when
// keep is nil).
func (m *Master) closeSockets(keep func(sockKey) bool) {
	for k, fd := range m.sockets {
		if keep == nil || !keep(k) {
			unix.Close(fd)
			delete(m.sockets, k)
			m.removeSocketFile(k)
		}
	}
}

// Addrs returns the bound address of each worker on an IP address (real
// ports for :0). A Unix socket's path is the one its worker's Listen names.
func (m *Master) Addrs() map[string]string {
	out := map[string]string{}
	for k, fd := range m.sockets {
		if sa, err := unix.Getsockname(fd); err == nil {
			if ap := sockets.SockaddrToAddrPort(sa); ap.IsValid() {
				out[k.worker] = ap.String()
			}
		}
	}
	return out
}

// Run starts the children and supervises them until a stop. ready is called
// once every child has reported ready (or with the error that kept them from
// it). Run returns when every child has exited.
func (m *Master) Run(ctx context.Context, ready func(error)) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	signal.Ignore(syscall.SIGPIPE)
	defer signal.Stop(sigs)
	defer close(m.done)
	defer m.stopMonitor()
	defer m.stopMetrics()
	m.started = time.Now()

	// As a container's init, reap the orphans the namespace hands over.
	isInit := os.Getpid() == 1
	sigchld := make(chan os.Signal, 1)
	if isInit {
		signal.Notify(sigchld, syscall.SIGCHLD)
		defer signal.Stop(sigchld)
	}

	startup := m.startAll()
	if ready == nil {
		ready = func(error) {}
	}
	qps := time.NewTicker(time.Second)
	defer qps.Stop()
	rotate := time.NewTicker(m.opts.TicketKeyRotation)
	defer rotate.Stop()
	for {
		if m.stopping && len(m.children()) == 0 {
			m.closeSockets(nil)
			if m.stopDone != nil {
				close(m.stopDone)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			m.stop(false)
		case sig := <-sigs:
			m.onSignal(sig.(syscall.Signal))
		case ev := <-m.exits:
			m.onExit(ev)
		case ev := <-m.childEvents:
			m.onChildEvent(ev)
		case req := <-m.requests:
			m.onRequest(req)
		case <-sigchld:
			m.reapOrphans()
		case <-qps.C:
			m.sampleQPS()
			if isInit {
				m.reapOrphans()
			}
		case <-rotate.C:
			m.rotateTicketKeys()
		}
		if startup != nil {
			if err := startup.check(m); err != nil || startup.done {
				startup = nil
				if err == nil && m.awaitingCommit() {
					// A new master serves once the old one hands it the
					// control socket.
					m.confirmUpgrade(func(err error) { m.startedUp(ready, err) })
				} else {
					m.startedUp(ready, err)
				}
			}
		}
		m.afterEvent()
	}
}

// startedUp reports the end of the start-up: every child ready, or err.
func (m *Master) startedUp(ready func(error), err error) {
	if err == nil {
		ready(nil)
		m.opts.Notify("READY=1")
		m.log.Info("all workers ready", zap.Int("children", len(m.children())))
		m.armMonitor()
		return
	}
	if m.awaitingCommit() {
		m.opts.Inherit.Fail(err)
	}
	ready(err)
	if !m.stopping {
		m.log.Error("start-up failed", zap.Error(err))
		m.stop(false)
	}
}

// startAll spawns one child per slot of every worker.
func (m *Master) startAll() *waitReady {
	wr := &waitReady{}
	for _, w := range m.cfg.Workers {
		for id := range w.Count {
			s := m.slotFor(w.Name, id)
			s.worker = w
			p, err := s.fill(m)
			if err != nil {
				wr.err = err
				return wr
			}
			wr.procs = append(wr.procs, p)
		}
	}
	return wr
}

// waitReady tracks a set of children until all are ready or one fails.
type waitReady struct {
	procs []*proc
	err   error
	done  bool
}

func (w *waitReady) check(m *Master) error {
	if w.err != nil {
		return w.err
	}
	for _, p := range w.procs {
		switch p.state {
		case stateStarting:
			return nil
		case stateExited, stateDraining:
			if p.setupErr != nil {
				return fmt.Errorf("worker %q #%d could not start: %w", p.worker.Name, p.id, p.setupErr)
			}
			return fmt.Errorf("worker %q #%d exited during start-up", p.worker.Name, p.id)
		}
	}
	w.done = true
	return nil
}

func (m *Master) onSignal(sig syscall.Signal) {
	m.log.Info("signal received", zap.String("signal", unix.SignalName(sig)))
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM:
		m.stop(false)
	case syscall.SIGQUIT:
		m.stop(true)
	case syscall.SIGUSR1, syscall.SIGUSR2:
		if err := m.reload(sig == syscall.SIGUSR2, nil); err != nil {
			m.log.Error("reload failed", zap.Error(err))
		}
	case syscall.SIGHUP:
		if m.opts.Daemonized {
			m.reopen(nil)
		} else {
			m.stop(false) // the terminal went away
		}
	}
}

func (m *Master) onChildEvent(ev childEvent) {
	p := ev.p
	if ev.err != nil {
		m.log.Error("child failed to start", zap.String("worker", p.worker.Name), zap.Int("id", p.id),
			zap.Int("child_pid", p.pid), zap.Error(ev.err))
		// Its exit then counts as a crash: the slot is respawned with
		// back-off. (Marking it draining made the exit look expected and
		// left the slot empty for good.)
		p.setupErr = ev.err
		_ = p.cmd.Process.Kill()
		return
	}
	if ev.retire {
		m.recycle(p)
		return
	}
	if ev.stopAll != "" {
		m.log.Info("a child asked to stop the daemon", zap.String("worker", p.worker.Name), zap.Int("id", p.id),
			zap.Int("child_pid", p.pid), zap.String("mode", ev.stopAll))
		m.stop(ev.stopAll == ipc.StopDrain)
		return
	}
	if ev.handover != nil {
		m.passOn(p, ev.handover, ev.files)
		return
	}
	if ev.ready && p.state == stateStarting {
		p.slot.ready(m, p)
		m.log.Info("child ready", zap.String("worker", p.worker.Name), zap.Int("id", p.id),
			zap.Int("child_pid", p.pid), zap.Int("gen", p.gen))
		if m.reloading != nil {
			m.reloading.childReady(p)
		}
	}
}

func (m *Master) onExit(ev exitEvent) {
	// A child's last messages (a hand-over, why it could not start) are
	// queued before its exit (see wait), but select may pick the exit
	// first: handle them first, so that the exit is judged with them.
	for range cap(m.childEvents) {
		select {
		case ce := <-m.childEvents:
			m.onChildEvent(ce)
			continue
		default:
		}
		break
	}
	p, s := ev.p, ev.p.slot
	expected := p.state == stateDraining || m.stopping
	s.exited(p)
	defer m.forget(s)
	m.countExit(p.worker.Name, ev.status)
	m.metricsExited(p, !expected && s.worker != nil)
	m.forwardExit(p, ev.status)
	fields := []zap.Field{zap.String("worker", p.worker.Name), zap.Int("id", p.id), zap.Int("child_pid", p.pid),
		zap.String("status", ev.status), zap.Int("gen", p.gen)}
	if expected {
		m.log.Info("child exited", fields...)
		if m.reloading != nil {
			m.reloading.childExited(m, p, ev.status)
		}
		return
	}
	m.log.Warn("child exited unexpectedly", fields...)
	if m.reloading != nil {
		m.reloading.childExited(m, p, ev.status)
	}
	if s.worker == nil {
		return // dropped by a reload meanwhile
	}
	s.crashed(m, p)
}

// countExit counts how a child of worker ended, for status.
func (m *Master) countExit(worker, status string) {
	counts := m.exitCounts[worker]
	if counts == nil {
		counts = map[string]int{}
		m.exitCounts[worker] = counts
	}
	counts[status]++
}

// passOn forwards connections handed over by a retiring child to its
// successor. Without one they are closed, counted in a warning: the
// clients reconnect. The master's copies are closed in every case.
func (m *Master) passOn(from *proc, msg *ipc.Message, files []*os.File) {
	to := m.successor(from)
	if to == nil && m.forwardToNewMaster(from, msg, files) {
		return
	}
	m.deliver(to, from.worker.Name, from.pid, msg, files)
}

// deliver sends connections of worker handed over by child fromPID to to
// (none: they are closed). The master's copies are closed in every case.
func (m *Master) deliver(to *proc, worker string, fromPID int, msg *ipc.Message, files []*os.File) {
	defer closeFiles(files)
	lost := func(why string, fields ...zap.Field) {
		m.log.Warn(why+"; closing them", append([]zap.Field{zap.String("worker", worker),
			zap.Int("count", len(files)), zap.Int("from_pid", fromPID)}, fields...)...)
	}
	if to == nil {
		lost("no child to take over connections")
		return
	}
	if len(files) != len(msg.Handovers) {
		// The replacement pairs descriptors with descriptions by position.
		lost("hand-over with mismatched descriptors", zap.Int("handovers", len(msg.Handovers)))
		return
	}
	fds, err := dupFDs(files)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if err != nil {
		lost("cannot pass connections on", zap.Error(err))
		return
	}
	if err := to.ch.Send(msg, fds...); err != nil {
		lost("cannot pass connections on", zap.Int("to_pid", to.pid), zap.Error(err))
		return
	}
	m.log.Info("connections passed on", zap.String("worker", worker), zap.Int("count", len(files)),
		zap.Int("from_pid", fromPID), zap.Int("to_pid", to.pid))
}

// dupFDs takes close-on-exec duplicates of the files' descriptors through
// SyscallConn: File.Fd would switch the sockets to blocking mode, a flag
// they share with the process that adopts them.
func dupFDs(files []*os.File) ([]int, error) {
	fds := make([]int, 0, len(files))
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return fds, err
		}
		var dupErr error
		if err := rc.Control(func(fd uintptr) {
			var nfd int
			nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			if dupErr == nil {
				fds = append(fds, nfd)
			}
		}); err != nil {
			return fds, err
		}
		if dupErr != nil {
			return fds, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", dupErr)
		}
	}
	return fds, nil
}

// successor is the child that takes over from's connections: its slot's
// current child, or failing that the current child of another slot of the
// same worker.
func (m *Master) successor(from *proc) *proc {
	serves := func(p *proc) bool { return p != nil && p != from && p.state == stateReady }
	if from.slot != nil && serves(from.slot.current) {
		return from.slot.current
	}
	return m.readyChildOf(from.worker.Name, from)
}

// readyChildOf is the ready current child of worker's lowest slot, not
// except; nil when none is.
func (m *Master) readyChildOf(worker string, except *proc) *proc {
	var to *proc
	for k, s := range m.slots {
		p := s.current
		if k.worker == worker && p != nil && p != except && p.state == stateReady && (to == nil || k.id < to.id) {
			to = p
		}
	}
	return to
}

// recycle replaces a child that reached max_requests: its slot starts a
// successor and p drains once the successor is ready, so the slot is
// served throughout.
func (m *Master) recycle(p *proc) {
	if m.stopping || m.reloading != nil {
		return // a stop or a reload replaces it anyway
	}
	s := p.slot
	if p != s.current || p.state != stateReady || s.next != nil || s.worker == nil {
		return // already on its way out, or its slot was dropped
	}
	next, err := s.replace(m, stopOrder{mode: ipc.StopDrain, timeout: m.cfg.GracefulTimeout.Duration, handOver: true})
	if err != nil {
		m.log.Error("cannot start a replacement", zap.String("worker", s.key.worker), zap.Int("id", s.key.id), zap.Error(err))
		return
	}
	m.log.Info("replacing child after max_requests", zap.String("worker", s.key.worker), zap.Int("id", s.key.id),
		zap.Int("child_pid", p.pid), zap.Int("replacement_pid", next.pid))
}

func workerNamed(cfg *config.Config, name string) *config.Worker {
	for _, w := range cfg.Workers {
		if w.Name == name {
			return w
		}
	}
	return nil
}

// stop tells every child to stop (graceful: drain) and arms the kill timer.
func (m *Master) stop(graceful bool) {
	if m.stopping {
		if !graceful {
			// A second, immediate stop during a graceful one cuts it short.
			m.signalAll(false, m.cfg.StopTimeout.Duration)
		}
		return
	}
	if op := m.upgrading; op != nil && op.stage != upgradeDone {
		m.upgradeFailed(op, errors.New("the master is stopping"))
	}
	m.stopping = true
	if !m.awaitingCommit() {
		m.opts.Notify("STOPPING=1")
	}
	timeout := m.cfg.StopTimeout.Duration
	if graceful {
		timeout = m.cfg.GracefulTimeout.Duration
	}
	m.log.Info("stopping", zap.Bool("graceful", graceful), zap.Int("children", len(m.children())))
	m.signalAll(graceful, timeout)
	// No child is spawned any more: close the listening sockets now, so that
	// once the children have closed their copies (at once, whatever the
	// mode) new connections are refused instead of queueing, unserved, on a
	// socket only the master still holds.
	m.closeSockets(nil)
}

func (m *Master) signalAll(graceful bool, timeout time.Duration) {
	o := stopOrder{mode: ipc.StopNow, timeout: timeout}
	if graceful {
		o.mode = ipc.StopDrain
	}
	for _, s := range m.slots {
		s.stop(m, o)
	}
}

// reopen reopens the master's log file and hands the new one to every
// child. done (may be nil) runs once each child has switched to it (or
// failed to answer within a second), so that `workermand reopen` returns
// only when nothing writes to the old file any more.
func (m *Master) reopen(done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if m.opts.ReopenLogs != nil {
		if err := m.opts.ReopenLogs(); err != nil {
			m.log.Error("reopen logs failed", zap.Error(err))
			done(err)
			return
		}
	}
	// "logs reopened" is logged once every process writes to the new file,
	// so that a line after it in the new file means no one writes the old.
	finished := func(err error) {
		m.log.Info("logs reopened")
		done(err)
	}
	procs := m.children()
	if len(procs) == 0 {
		finished(nil)
		return
	}
	// A duplicate, so that a reopen right after this one cannot close the
	// file under the sends.
	logFD := -1
	if lf := m.opts.LogFile(); lf != nil {
		fd, err := unix.FcntlInt(lf.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			finished(err)
			return
		}
		logFD = fd
	}
	go func() {
		if logFD >= 0 {
			defer unix.Close(logFD)
		}
		// Each child also gets its worker's own files (the access log)
		// reopened here: it may not be allowed to open them itself.
		var failed error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Go(func() {
				var fds []int
				if logFD >= 0 {
					fds = append(fds, logFD)
				}
				written, err := openWrittenFiles(p.worker)
				if err != nil {
					mu.Lock()
					failed = errors.Join(failed, err)
					mu.Unlock()
				}
				defer closeFiles(written)
				msg := &ipc.Message{Type: ipc.TypeReopen}
				for _, f := range written {
					msg.Files = append(msg.Files, f.Name())
					fds = append(fds, int(f.Fd()))
				}
				if len(fds) > 0 {
					_, _ = p.request(msg, statusTimeout, fds...)
				}
			})
		}
		wg.Wait()
		if failed != nil {
			m.log.Error("cannot reopen a worker's files", zap.Error(failed))
		}
		finished(failed)
	}()
}

// post runs fn on the master loop, unless the master has finished.
func (m *Master) post(fn func()) {
	select {
	case m.requests <- &request{internal: fn}:
	case <-m.done:
	}
}

// afterEvent is the hook for work that follows any event.
func (m *Master) afterEvent() {
	if m.reloading != nil {
		m.reloading.advance(m)
	}
	m.syncMonitor()
}

var errNotRunning = errors.New("master is not running")
