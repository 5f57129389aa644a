package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/counters"
	"github.com/workermand/workermand/internal/ipc"
	"github.com/workermand/workermand/internal/sockets"
)

// `workermand upgrade` replaces the master itself, as nginx's binary
// upgrade does, over the channel children use (SCM_RIGHTS): the running
// master starts its binary again as a new master, hands it every listening
// socket, the pid-file lock, the control socket and the metrics listener,
// the new master starts its children and reports ready; the old one then
// stops taking commands, the new one writes the pid file and serves them,
// and the old master's children retire as in `reload -g`, their idle
// connections passed on to the new master's. Until the new master serves,
// everything stays the old master's: a new binary that fails leaves it
// serving as before.
//
// The messages of the channel between the two masters; ipc.TypeSetupFailed
// (new → old) says why the new master cannot start, ipc.TypeHandover
// (old → new) carries connections of the retiring children.
const (
	// Old → new: descriptors and what each is (handoff), in batches that
	// fit a message; the last one has the counters.
	upgradeHandoff = "upgrade_handoff"
	// New → old: every child is ready.
	upgradeReady = "upgrade_ready"
	// Old → new: the old master no longer accepts commands; take over.
	upgradeCommit = "upgrade_commit"
	// New → old: the pid file names the new master and it serves the
	// control socket.
	upgradeServing = "upgrade_serving"
	// Old → new: a retiring child exited (upgradeExit), so that the new
	// master's exit statuses and metrics count it.
	upgradeExited = "upgrade_exited"
)

// upgradeExit is the payload of an upgradeExited message.
type upgradeExit struct {
	Worker   string            `json:"worker"`
	Status   string            `json:"status"`
	Counters counters.Counters `json:"counters"`
}

// EnvUpgrade marks a master started by an upgrade: its channel to the
// master it replaces is descriptor UpgradeFD.
const (
	EnvUpgrade = "WORKERMAND_UPGRADE"
	UpgradeFD  = 3
)

// DefaultUpgradeTimeout bounds the new master's start, up to its ready.
const DefaultUpgradeTimeout = 60 * time.Second

// handoff is the payload of an upgradeHandoff message.
type handoff struct {
	// Items describe the message's descriptors, in order.
	Items []handoffItem `json:"items"`
	Last  bool          `json:"last,omitempty"`

	// With Last: what the master counted, so that the new master's status
	// and metrics go on from it (see docs/operations.md for what resets).
	PID        int                       `json:"pid,omitempty"`
	Generation int                       `json:"generation,omitempty"`
	ExitCounts map[string]map[string]int `json:"exit_counts,omitempty"`
	Retired    map[string][]float64      `json:"retired,omitempty"`
	Restarts   map[string]uint64         `json:"restarts,omitempty"`
	Reloads    map[string]uint64         `json:"reloads,omitempty"`
}

// handoffItem is one descriptor of a handoff.
type handoffItem struct {
	Kind   string            `json:"kind"` // socket, lock, control, metrics
	Worker string            `json:"worker,omitempty"`
	Listen string            `json:"listen,omitempty"`
	Socket string            `json:"socket,omitempty"` // socketKind
	ID     int               `json:"id"`
	Unix   *sockets.UnixFile `json:"unix,omitempty"`
}

// upgrade stages, on the old master's side.
const (
	upgradeStarting  = iota // waiting for the new master's ready
	upgradeCommitted        // control socket given away, waiting for serving
	upgradeDone             // the new master serves; this one retires
)

// upgradeOp is an upgrade in flight, on the old master's side.
type upgradeOp struct {
	cmd   *exec.Cmd
	ch    *ipc.Channel
	pid   int
	stage int
	timer *time.Timer
	reply func(newPID int, err error)
	// heard is closed when listenUpgrade has read the channel to its end.
	heard chan struct{}
}

// upgrade starts the new master and hands it everything; reply is called
// once it serves or the upgrade failed. An error returned here means no
// upgrade started.
func (m *Master) upgrade(reply func(int, error)) error {
	switch {
	case m.upgrading != nil && m.upgrading.stage == upgradeDone:
		return fmt.Errorf("this master was replaced by pid %d and is retiring", m.upgrading.pid)
	case m.upgrading != nil:
		return fmt.Errorf("an upgrade is already in progress (new master pid %d)", m.upgrading.pid)
	case m.stopping:
		return errors.New("the master is stopping")
	case m.reloading != nil:
		return errors.New("a reload is in progress; upgrade once it is done")
	case m.awaitingCommit():
		return errors.New("this master is itself still taking over from the previous one")
	case m.opts.Upgrade == nil:
		return errors.New("this master cannot upgrade (no command to start the new one)")
	}
	cmd, err := m.opts.Upgrade()
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	ch, theirs, err := ipc.Pair()
	if err != nil {
		return fmt.Errorf("upgrade: channel: %w", err)
	}
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Env = append(cmd.Env, EnvUpgrade+"=1")
	if err := cmd.Start(); err != nil {
		ch.Close()
		theirs.Close()
		return fmt.Errorf("upgrade: start %s: %w", cmd.Path, err)
	}
	theirs.Close()
	op := &upgradeOp{cmd: cmd, ch: ch, pid: cmd.Process.Pid, reply: reply, heard: make(chan struct{})}
	m.upgrading = op
	m.log.Info("upgrading: new master started", zap.Int("new_pid", op.pid), zap.String("executable", cmd.Path))
	go func() {
		err := cmd.Wait()
		status := "exit 0"
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			status = "signal " + strconv.Itoa(int(ws.Signal()))
		} else if err != nil {
			status = "exit " + strconv.Itoa(cmd.ProcessState.ExitCode())
		}
		// Why it could not start, sent just before it exited, says more
		// than the exit status: let it reach the loop first.
		select {
		case <-op.heard:
		case <-time.After(time.Second):
		}
		m.post(func() {
			if m.upgrading == op && op.stage != upgradeDone {
				m.upgradeFailed(op, fmt.Errorf("the new master exited (%s) before it was ready; its output is in %s", status, m.outputName()))
			}
		})
	}()
	go m.listenUpgrade(op)
	if err := m.sendHandoff(ch); err != nil {
		// The new master closed its end: it is exiting, and how it ended
		// says more than the broken pipe, unless it does not end soon.
		op.timer = time.AfterFunc(2*time.Second, func() {
			m.post(func() { m.upgradeFailed(op, fmt.Errorf("hand the sockets over: %w", err)) })
		})
		return nil
	}
	timeout := m.opts.UpgradeTimeout
	op.timer = time.AfterFunc(timeout, func() {
		m.post(func() {
			if m.upgrading == op && op.stage != upgradeDone {
				m.upgradeFailed(op, fmt.Errorf("the new master did not report ready within %s; its output is in %s", timeout, m.outputName()))
			}
		})
	})
	return nil
}

// outputName says where a new master's own output (what it printed before
// its log was open) went.
func (m *Master) outputName() string {
	if m.cfg.StdoutFile != "" && m.opts.Daemonized {
		return m.cfg.StdoutFile
	}
	return "this master's standard error"
}

// sendHandoff sends every descriptor the new master takes over, with what
// each is, and the counters that carry over.
func (m *Master) sendHandoff(ch *ipc.Channel) error {
	var items []handoffItem
	var fds []int
	var dups []int
	defer func() {
		for _, fd := range dups {
			unix.Close(fd)
		}
	}()
	for k, fd := range m.sockets {
		it := handoffItem{Kind: "socket", Worker: k.worker, Listen: k.listen, Socket: k.kind, ID: k.id}
		if f, ok := m.unixFiles[k]; ok {
			it.Unix = &f
		}
		items, fds = append(items, it), append(fds, fd)
	}
	if m.opts.LockFile != nil {
		if f := m.opts.LockFile(); f != nil {
			items, fds = append(items, handoffItem{Kind: "lock"}), append(fds, int(f.Fd()))
		}
	}
	// Listeners of the net package: duplicated through SyscallConn, as
	// Fd would switch them to blocking mode.
	type listener struct {
		kind string
		ln   syscall.Conn
	}
	var lns []listener
	m.control.mu.Lock()
	if m.control.ln != nil {
		lns = append(lns, listener{"control", m.control.ln})
	}
	m.control.mu.Unlock()
	if c, ok := m.metrics.ln.(syscall.Conn); ok && m.metrics.ln != nil {
		lns = append(lns, listener{"metrics", c})
	}
	for _, l := range lns {
		fd, err := dupConn(l.ln)
		if err != nil {
			return fmt.Errorf("%s listener: %w", l.kind, err)
		}
		dups = append(dups, fd)
		items, fds = append(items, handoffItem{Kind: l.kind}), append(fds, fd)
	}
	// In batches below ipc's descriptors per message; at least one, since
	// the last carries the counters.
	const batch = 60
	for {
		n := min(len(items), batch)
		h := handoff{Items: items[:n]}
		if n == len(items) {
			h.Last = true
			h.PID = os.Getpid()
			h.Generation = m.generation
			h.ExitCounts = m.exitCounts
			h.Retired, h.Restarts, h.Reloads = m.metrics.retired, m.metrics.restarts, m.metrics.reloads
		}
		payload, err := json.Marshal(h)
		if err != nil {
			return err
		}
		msg := &ipc.Message{Type: upgradeHandoff, Upgrade: payload}
		if h.Last {
			msg.TicketKeys = m.ticketKeys.current()
		}
		if err := ch.Send(msg, fds[:n]...); err != nil {
			return err
		}
		items, fds = items[n:], fds[n:]
		if h.Last {
			break
		}
	}
	return nil
}

// dupConn takes a close-on-exec duplicate of c's descriptor without
// touching its blocking mode.
func dupConn(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", dupErr)
	}
	return nfd, nil
}

// listenUpgrade reads what the new master says and hands it to the loop.
func (m *Master) listenUpgrade(op *upgradeOp) {
	defer close(op.heard)
	for {
		msg, files, err := op.ch.Recv(time.Time{})
		closeFiles(files)
		if err != nil {
			return // the exit watcher reports a new master that went away
		}
		switch msg.Type {
		case upgradeReady:
			m.post(func() { m.upgradeReadyNow(op) })
		case upgradeServing:
			m.post(func() { m.upgradeServes(op) })
		case ipc.TypeSetupFailed:
			m.post(func() {
				if m.upgrading == op && op.stage != upgradeDone {
					m.upgradeFailed(op, fmt.Errorf("the new master could not start: %s", msg.Error))
				}
			})
		}
	}
}

// upgradeReadyNow gives the new master, whose children are ready, the
// control socket: this master stops accepting commands (keeping a
// duplicate, should the new one fail before it serves), tells systemd
// which process is the service's main one now, and lets it go on.
func (m *Master) upgradeReadyNow(op *upgradeOp) {
	if m.upgrading != op || op.stage != upgradeStarting {
		return
	}
	if err := m.pauseControl(); err != nil {
		m.upgradeFailed(op, fmt.Errorf("control socket: %w", err))
		return
	}
	op.stage = upgradeCommitted
	m.opts.Notify("MAINPID=" + strconv.Itoa(op.pid))
	if err := op.ch.Send(&ipc.Message{Type: upgradeCommit}); err != nil {
		m.upgradeFailed(op, fmt.Errorf("the new master went away: %w", err))
	}
}

// upgradeServes ends the upgrade: the new master serves, this one retires
// its children as `reload -g` would and exits once they are gone.
func (m *Master) upgradeServes(op *upgradeOp) {
	if m.upgrading != op || op.stage != upgradeCommitted {
		return
	}
	op.stage = upgradeDone
	op.timer.Stop()
	m.log.Info("upgrade complete: the new master serves; this one retires its children", zap.Int("new_pid", op.pid),
		zap.Int("children", len(m.children())))
	op.reply(op.pid, nil)
	m.stopping = true
	m.stopMonitor()
	o := stopOrder{mode: ipc.StopDrain, timeout: m.cfg.GracefulTimeout.Duration, handOver: true}
	for _, s := range m.slots {
		s.stop(m, o)
	}
	// The sockets, their files, the metrics listener and the control
	// socket are the new master's now: close this master's copies only.
	for k, fd := range m.sockets {
		unix.Close(fd)
		delete(m.sockets, k)
	}
	m.unixFiles = nil
	m.stopMetrics()
	m.closeControl()
}

// upgradeFailed ends an upgrade that did not complete: the new master is
// killed (its children follow when their channels close) and this one
// keeps serving, taking the control socket back if it gave it away.
func (m *Master) upgradeFailed(op *upgradeOp, err error) {
	if m.upgrading != op || op.stage == upgradeDone {
		return
	}
	m.upgrading = nil
	if op.timer != nil {
		op.timer.Stop()
	}
	if op.stage == upgradeCommitted {
		if rerr := m.resumeControl(); rerr != nil {
			m.log.Error("cannot serve the control socket again", zap.Error(rerr))
		}
		m.opts.Notify("MAINPID=" + strconv.Itoa(os.Getpid()))
	}
	op.ch.Close()
	_ = op.cmd.Process.Kill()
	m.log.Error("upgrade failed; this master keeps serving", zap.Int("new_pid", op.pid), zap.Error(err))
	op.reply(0, err)
}

// HandedOver reports whether this master gave everything it held to a new
// master: on its way out it must not remove the pid file, the control
// socket or Unix socket files, nor unlock the pid file (the lock is
// shared with the new master).
func (m *Master) HandedOver() bool {
	select {
	case <-m.done:
	default:
		return false // only asked once Run returned
	}
	return m.upgrading != nil && m.upgrading.stage == upgradeDone
}

// TookOver reports whether this master, started by an upgrade, took over
// from the old one; false for a master that was not.
func (m *Master) TookOver() bool {
	in := m.opts.Inherit
	return in != nil && in.ch != nil && in.committed
}

// Inheritance is what a master takes over instead of binding: from the
// master it replaces (ReceiveHandoff), or from systemd
// (SocketActivation).
type Inheritance struct {
	ch *ipc.Channel // to the old master; nil under socket activation
	// Lock is the pid-file lock's descriptor, for pidfile.Adopt.
	Lock     *os.File
	control  *os.File
	metrics  *os.File
	sockets  []*inheritedSocket
	state    handoff
	keys     []ipc.TicketKey
	activate bool // sockets come from systemd: matched by name or address
	// committed: the old master gave the control socket away.
	committed bool
}

// inheritedSocket is one listening socket taken over.
type inheritedSocket struct {
	fd   int
	key  *sockKey          // from an old master
	unix *sockets.UnixFile // its file, an old master's
	name string            // systemd's FileDescriptorName
	used bool
}

// ReceiveHandoff reads what the old master hands over on f, the channel
// of EnvUpgrade.
func ReceiveHandoff(f *os.File, timeout time.Duration) (*Inheritance, error) {
	ch, err := ipc.FromFile(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("upgrade channel: %w", err)
	}
	in := &Inheritance{ch: ch}
	deadline := time.Now().Add(timeout)
	for {
		msg, files, err := ch.Recv(deadline)
		if err != nil {
			in.close()
			return nil, fmt.Errorf("upgrade: receive the hand-off: %w", err)
		}
		var h handoff
		if msg.Type != upgradeHandoff || json.Unmarshal(msg.Upgrade, &h) != nil || len(h.Items) != len(files) {
			closeFiles(files)
			in.close()
			return nil, fmt.Errorf("upgrade: unexpected %q message from the old master", msg.Type)
		}
		if err := in.take(h.Items, files); err != nil {
			in.close()
			return nil, err
		}
		if h.Last {
			in.state, in.keys = h, msg.TicketKeys
			return in, nil
		}
	}
}

// take files the descriptors of one hand-off message by kind.
func (in *Inheritance) take(items []handoffItem, files []*os.File) error {
	for i, it := range items {
		f := files[i]
		switch it.Kind {
		case "lock":
			in.Lock = f
		case "control":
			in.control = f
		case "metrics":
			in.metrics = f
		case "socket":
			fds, err := dupFDs([]*os.File{f})
			f.Close()
			if err != nil {
				closeFiles(files[i+1:])
				return fmt.Errorf("upgrade: socket of worker %q: %w", it.Worker, err)
			}
			k := sockKey{worker: it.Worker, listen: it.Listen, kind: it.Socket, id: it.ID}
			in.sockets = append(in.sockets, &inheritedSocket{fd: fds[0], key: &k, unix: it.Unix})
		default:
			f.Close()
		}
	}
	return nil
}

// Fail tells the old master why this one cannot take over; it keeps
// serving.
func (in *Inheritance) Fail(err error) {
	if in == nil || in.ch == nil || err == nil {
		return
	}
	_ = in.ch.Send(&ipc.Message{Type: ipc.TypeSetupFailed, PID: os.Getpid(), Error: err.Error()})
}

// close releases what was not taken.
func (in *Inheritance) close() {
	if in.ch != nil {
		in.ch.Close()
	}
	for _, f := range []*os.File{in.Lock, in.control, in.metrics} {
		if f != nil {
			f.Close()
		}
	}
	for _, s := range in.sockets {
		if !s.used {
			unix.Close(s.fd)
		}
	}
}

// awaitingCommit reports whether this master took over from an old one
// that has not given it the control socket yet: until then everything it
// inherited stays the old master's.
func (m *Master) awaitingCommit() bool {
	in := m.opts.Inherit
	return in != nil && in.ch != nil && !in.committed
}

// takeInherited is the inherited socket that serves key k of w, if any:
// the same key from an old master; under socket activation the one named
// after the worker, or bound to its address.
func (m *Master) takeInherited(k sockKey, addr inheritAddr) (int, bool) {
	in := m.opts.Inherit
	if in == nil {
		return -1, false
	}
	for _, s := range in.sockets {
		if s.used {
			continue
		}
		switch {
		case s.key != nil:
			if *s.key != k {
				continue
			}
		case s.name != "" && s.name == k.worker:
			if socketKindOf(s.fd) != k.kind {
				continue
			}
		default:
			if !addr.matches(s.fd, k.kind) {
				continue
			}
		}
		s.used = true
		if s.unix != nil {
			m.pendingUnix(k, *s.unix)
		}
		if in.activate {
			m.log.Info("listening socket from systemd", zap.String("worker", k.worker), zap.String("address", socketName(s.fd)),
				zap.String("name", s.name))
		}
		return s.fd, true
	}
	return -1, false
}

// pendingUnix remembers the file of an inherited Unix socket: the master
// removes it at its final stop once the socket is its own (commitUpgrade).
func (m *Master) pendingUnix(k sockKey, f sockets.UnixFile) {
	if m.inheritedFiles == nil {
		m.inheritedFiles = map[sockKey]sockets.UnixFile{}
	}
	m.inheritedFiles[k] = f
}

// closeUnusedInherited closes the inherited sockets no worker took.
func (m *Master) closeUnusedInherited() {
	in := m.opts.Inherit
	if in == nil {
		return
	}
	for _, s := range in.sockets {
		if s.used {
			continue
		}
		s.used = true
		fields := []zap.Field{zap.Int("fd", s.fd), zap.String("address", socketName(s.fd))}
		if s.key != nil {
			fields = append(fields, zap.String("worker", s.key.worker))
		}
		if s.name != "" {
			fields = append(fields, zap.String("name", s.name))
		}
		m.log.Warn("inherited listening socket matches no worker; closing it", fields...)
		unix.Close(s.fd)
	}
}

// confirmUpgrade runs once the new master's children are ready: it tells
// the old master, waits for the control socket, and then (on the loop)
// takes everything over and calls done.
func (m *Master) confirmUpgrade(done func(error)) {
	in := m.opts.Inherit
	go func() {
		err := in.ch.Send(&ipc.Message{Type: upgradeReady, PID: os.Getpid()})
		if err == nil {
			var msg *ipc.Message
			var files []*os.File
			msg, files, err = in.ch.Recv(time.Now().Add(m.opts.ReadyTimeout))
			closeFiles(files)
			if err == nil && msg.Type != upgradeCommit {
				err = fmt.Errorf("unexpected %q message", msg.Type)
			}
		}
		m.post(func() {
			if err != nil {
				done(fmt.Errorf("the old master did not hand over the control socket: %w", err))
				return
			}
			m.commitUpgrade()
			done(nil)
			if err := in.ch.Send(&ipc.Message{Type: upgradeServing, PID: os.Getpid()}); err != nil {
				m.log.Warn("cannot tell the old master that this one serves", zap.Error(err))
			}
			go m.receiveForwarded(in.ch)
		})
	}()
}

// commitUpgrade makes what the new master inherited its own: the Unix
// socket files it removes at its final stop, and the control socket.
func (m *Master) commitUpgrade() {
	in := m.opts.Inherit
	in.committed = true
	for k, f := range m.inheritedFiles {
		if _, ok := m.sockets[k]; ok {
			if m.unixFiles == nil {
				m.unixFiles = map[sockKey]sockets.UnixFile{}
			}
			m.unixFiles[k] = f
		}
	}
	m.inheritedFiles = nil
	m.control.mu.Lock()
	if m.control.ln != nil {
		go m.acceptControl(m.control.ln)
	}
	m.control.mu.Unlock()
	m.log.Info("took over from the old master", zap.Int("old_pid", in.state.PID))
}

// receiveForwarded passes on the connections the old master's retiring
// children hand over, until the old master exits.
func (m *Master) receiveForwarded(ch *ipc.Channel) {
	defer ch.Close()
	for {
		msg, files, err := ch.Recv(time.Time{})
		if err != nil {
			return
		}
		if msg.Type == upgradeExited {
			var ex upgradeExit
			if json.Unmarshal(msg.Upgrade, &ex) == nil {
				m.post(func() {
					m.countExit(ex.Worker, ex.Status)
					// The old master's child, as its last status left it.
					gone := &proc{worker: &config.Worker{Name: ex.Worker}}
					gone.lastStatus.Counters = ex.Counters
					m.metricsExited(gone, false)
				})
			}
		}
		if msg.Type != ipc.TypeHandover {
			closeFiles(files)
			continue
		}
		m.post(func() { m.deliver(m.readyChildOf(msg.Worker, nil), msg.Worker, msg.PID, msg, files) })
	}
}

// forwardExit tells the master that replaced this one how a retiring
// child ended.
func (m *Master) forwardExit(p *proc, status string) {
	op := m.upgrading
	if op == nil || op.stage != upgradeDone {
		return
	}
	p.mu.Lock()
	ex := upgradeExit{Worker: p.worker.Name, Status: status, Counters: p.lastStatus.Counters}
	p.mu.Unlock()
	payload, err := json.Marshal(ex)
	if err == nil {
		err = op.ch.Send(&ipc.Message{Type: upgradeExited, Upgrade: payload})
	}
	if err != nil {
		m.log.Warn("cannot tell the new master that a child exited", zap.Int("child_pid", p.pid), zap.Error(err))
	}
}

// forwardToNewMaster sends connections of a retiring child, which has no
// successor here, to the master that replaced this one.
func (m *Master) forwardToNewMaster(from *proc, msg *ipc.Message, files []*os.File) bool {
	op := m.upgrading
	if op == nil || op.stage != upgradeDone {
		return false
	}
	defer closeFiles(files)
	fds, err := dupFDs(files)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	fwd := *msg
	fwd.PID = from.pid
	if err == nil {
		err = op.ch.Send(&fwd, fds...)
	}
	if err != nil {
		m.log.Warn("cannot pass connections on to the new master; closing them", zap.String("worker", from.worker.Name),
			zap.Int("count", len(files)), zap.Int("from_pid", from.pid), zap.Error(err))
		return true
	}
	m.log.Info("connections forwarded to the new master", zap.String("worker", from.worker.Name), zap.Int("count", len(files)),
		zap.Int("from_pid", from.pid), zap.Int("new_master_pid", op.pid))
	return true
}
