package master

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
	"github.com/workermand/workermand/internal/logging"
)

type childState uint8

const (
	stateStarting childState = iota
	stateReady
	stateDraining // told to stop; its exit is expected
	stateExited
)

func (s childState) String() string {
	return [...]string{"starting", "ready", "draining", "exited"}[s]
}

// proc is one child process. Fields below mu are shared with the goroutine
// that reads the child's channel; the rest belong to the master loop.
type proc struct {
	// slot is the place the child fills; worker is the config it was
	// started with, which a reload may have replaced in the slot since.
	slot   *slot
	worker *config.Worker
	id     int // the slot's id, 0..count-1
	gen    int
	cmd    *exec.Cmd
	ch     *ipc.Channel
	pid    int
	state  childState
	start  time.Time
	// setupErr is the start-up failure the child reported, if any.
	setupErr error
	// conversed is closed when converse has read the channel to its end.
	conversed chan struct{}
	// recvSince is when converse started waiting in Recv (UnixNano), 0
	// while it handles a message: wait's bound on a channel that outlives
	// its child counts only time spent waiting for nothing.
	recvSince atomic.Int64

	mu      sync.Mutex
	lastID  uint64
	pending map[uint64]chan *ipc.Message
	// The last status the child answered with, fresh from its loop, and
	// when: what `status` shows, as busy, while the child does not answer.
	lastStatus   ipc.ProcessStatus
	lastStatusAt time.Time

	// keysMu orders the TLS session-ticket keys a child gets: its setup
	// and rotations (sendTicketKeys). setupSent: the setup went out, so
	// the child reads other messages now.
	keysMu    sync.Mutex
	setupSent bool
}

// askStatus requests the child's counters. It remembers an answer fresh
// from the child's loop; a child that does not answer in time, or whose
// loop did not, gets its last counters back marked busy, with how long
// its loop has been silent.
func (p *proc) askStatus(timeout time.Duration) (ipc.ProcessStatus, error) {
	asked := time.Now()
	r, err := p.request(&ipc.Message{Type: ipc.TypeStatus}, timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && r.Status != nil && !r.Status.Busy {
		p.lastStatus, p.lastStatusAt = *r.Status, time.Now()
		return *r.Status, nil
	}
	if errors.Is(err, errGone) {
		return ipc.ProcessStatus{}, err
	}
	st := p.lastStatus
	st.Busy = true
	silentSince := p.lastStatusAt
	if silentSince.IsZero() {
		silentSince = p.start
	}
	st.BusyMS = asked.Sub(silentSince).Milliseconds()
	if err == nil && r.Status != nil {
		// The child answered for its busy loop: its memory is fresh, and
		// it knows best since when its loop owes an answer.
		st.MemoryBytes = r.Status.MemoryBytes
		st.BusyMS = max(st.BusyMS, r.Status.BusyMS)
	}
	return st, nil
}

// request sends m (with fds) and waits for the reply with the same ID.
func (p *proc) request(m *ipc.Message, timeout time.Duration, fds ...int) (*ipc.Message, error) {
	reply := make(chan *ipc.Message, 1)
	p.mu.Lock()
	p.lastID++
	m.ID = p.lastID
	if p.pending == nil {
		p.pending = map[uint64]chan *ipc.Message{}
	}
	p.pending[m.ID] = reply
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, m.ID)
		p.mu.Unlock()
	}()
	if err := p.ch.Send(m, fds...); err != nil {
		return nil, err
	}
	select {
	case r := <-reply:
		return r, nil
	case <-p.conversed:
		// The child is gone: no answer will come, do not wait for one.
		select {
		case r := <-reply:
			return r, nil
		default:
			return nil, errGone
		}
	case <-time.After(timeout):
		return nil, errBusy
	}
}

var (
	errBusy = errors.New("no answer in time")
	errGone = errors.New("the child exited")
)

func (p *proc) deliverReply(m *ipc.Message) {
	p.mu.Lock()
	ch := p.pending[m.ID]
	p.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
	}
}

// childEvent is what the per-child goroutines report to the master loop.
type childEvent struct {
	p        *proc
	ready    bool
	retire   bool
	stopAll  string       // the stop mode a child asked the daemon to stop with
	handover *ipc.Message // connections to pass on, with files
	files    []*os.File
	err      error // setup failure or handshake error
}

type exitEvent struct {
	p      *proc
	status string // "exit 0", "signal 9"
	err    error
}

// spawn starts a child for slot s with the slot's worker config, handing
// it listener fd. The handshake runs on its own goroutine and reports
// through m.childEvents.
func (m *Master) spawn(s *slot, fd int) (*proc, error) {
	w, id := s.worker, s.key.id
	ch, theirs, err := ipc.Pair()
	if err != nil {
		return nil, fmt.Errorf("channel for worker %q #%d: %w", w.Name, id, err)
	}
	cmd := exec.Command(m.opts.Executable)
	cmd.Args = []string{fmt.Sprintf("workermand: worker %s #%d", w.Name, id)}
	cmd.Env = append(childEnv(), ipc.ChildEnvMarker+"=1")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout = m.opts.Stdout
	cmd.Stderr = m.opts.Stdout
	// Own process group: a terminal's Ctrl-C reaches only the master, which
	// then stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cred, err := credential(w); err != nil {
		ch.Close()
		theirs.Close()
		return nil, err
	} else if cred != nil {
		cmd.SysProcAttr.Credential = cred
	}
	if err := cmd.Start(); err != nil {
		ch.Close()
		theirs.Close()
		return nil, fmt.Errorf("start child for worker %q #%d: %w", w.Name, id, err)
	}
	theirs.Close()
	m.generation++
	p := &proc{slot: s, worker: w, id: id, gen: m.generation, cmd: cmd, ch: ch, pid: cmd.Process.Pid, start: time.Now(),
		conversed: make(chan struct{})}
	m.log.Debug("child started", zap.String("worker", w.Name), zap.Int("id", id), zap.Int("child_pid", p.pid), zap.Int("gen", p.gen))
	go m.wait(p)
	go m.converse(p, fd)
	return p, nil
}

// wait reaps the child and reports how it ended.
func (m *Master) wait(p *proc) {
	err := p.cmd.Wait()
	status := "exit 0"
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Signaled():
			status = "signal " + strconv.Itoa(int(ws.Signal()))
		case ws.Exited():
			status = "exit " + strconv.Itoa(ws.ExitStatus())
		}
	}
	// What the child sent just before it exited (a hand-over, why it could
	// not start) may still be unread: closing the channel now would drop
	// it. converse reads up to the end of the channel and reports before
	// the exit is. The child's end is close-on-exec, so the end comes with
	// the exit; the bound covers a descendant that kept it open anyway. It
	// counts only time converse waited in Recv since the exit: a message
	// still queued returns at once, and time spent handing the child's
	// messages to a busy master loop is no sign of a stuck channel.
	exited := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
drain:
	for {
		select {
		case <-p.conversed:
			break drain
		case <-tick.C:
			since := p.recvSince.Load()
			if since != 0 && time.Since(time.Unix(0, max(since, exited.UnixNano()))) > orphanChannelAfter {
				m.log.Warn("child exited but its channel is still open; closing it", zap.String("worker", p.worker.Name),
					zap.Int("id", p.id), zap.Int("child_pid", p.pid))
				break drain
			}
		}
	}
	p.ch.Close()
	<-p.conversed
	m.exits <- exitEvent{p: p, status: status, err: err}
}

// orphanChannelAfter is how long a channel may stay silent after its child
// exited before the master gives up on reaching its end.
const orphanChannelAfter = time.Second

// converse runs the handshake, then routes the child's messages: readiness
// to the master loop, replies to whoever asked.
func (m *Master) converse(p *proc, fd int) {
	defer close(p.conversed)
	report := func(ev childEvent) {
		select {
		case m.childEvents <- ev:
		case <-m.done:
		}
	}
	p.recvSince.Store(time.Now().UnixNano())
	hello, files, err := p.ch.Recv(time.Now().Add(m.opts.ReadyTimeout))
	p.recvSince.Store(0)
	closeFiles(files)
	if err != nil {
		report(childEvent{p: p, err: fmt.Errorf("handshake: %w", err)})
		return
	}
	if hello.Type != ipc.TypeHello || hello.Version < ipc.Version-1 || hello.Version > ipc.Version+1 {
		report(childEvent{p: p, err: fmt.Errorf("handshake: child speaks %q version %d, master %d", hello.Type, hello.Version, ipc.Version)})
		return
	}
	setup := &ipc.Setup{
		Worker: p.worker.Name, ID: p.id, Generation: p.gen,
		ConfigPath: m.cfg.Path, Config: m.cfg.Source,
		LogLevel: m.cfg.LogLevel, LogFormat: m.cfg.LogFormat,
	}
	var fds []int
	if fd >= 0 {
		fds = append(fds, fd)
	} else {
		setup.NoListener = true
	}
	if lf := m.opts.LogFile(); lf != nil {
		setup.HasLogFile = true
		fds = append(fds, int(lf.Fd()))
	}
	written, err := openWrittenFiles(p.worker)
	if err != nil {
		report(childEvent{p: p, err: err})
		return
	}
	for _, f := range written {
		setup.Files = append(setup.Files, f.Name())
		fds = append(fds, int(f.Fd()))
	}
	p.keysMu.Lock()
	setup.TicketKeys = m.ticketKeys.current()
	err = p.ch.Send(&ipc.Message{Type: ipc.TypeSetup, Version: ipc.Version, Setup: setup}, fds...)
	p.setupSent = err == nil
	p.keysMu.Unlock()
	closeFiles(written)
	if err != nil {
		report(childEvent{p: p, err: fmt.Errorf("handshake: %w", err)})
		return
	}
	m.route(p, report)
}

// maxRecvFailures bounds consecutive unreadable messages before converse
// gives up on a channel.
const maxRecvFailures = 8

// route reads the child's messages up to the end of the channel and routes
// them: readiness, retirement and hand-overs to the master loop, replies to
// whoever asked. Every message the child sent before it exited is read.
func (m *Master) route(p *proc, report func(childEvent)) {
	failures := 0
	for {
		p.recvSince.Store(time.Now().UnixNano())
		msg, files, err := p.ch.Recv(time.Time{})
		p.recvSince.Store(0)
		if err != nil {
			// ECONNRESET only says that the child closed its end with
			// messages of ours unread (a status request it never got to).
			// Linux reports it once, ahead of what the child queued before
			// it went: stopping here lost the connections of a hand-over
			// sent just before the exit. Reading on gets them, then EOF.
			reset := errors.Is(err, unix.ECONNRESET)
			if !reset && ipc.IsClosed(err) {
				return // the exit is reported by wait
			}
			if failures++; failures > maxRecvFailures {
				m.log.Error("cannot read the child's channel; giving up on it", zap.String("worker", p.worker.Name),
					zap.Int("child_pid", p.pid), zap.Error(err))
				return
			}
			if !reset {
				// A truncated or undecodable message is consumed (its
				// descriptors closed by Recv); the next one may be fine.
				m.log.Warn("unreadable message from a child", zap.String("worker", p.worker.Name),
					zap.Int("child_pid", p.pid), zap.Error(err))
			}
			continue
		}
		failures = 0
		if msg.Type == ipc.TypeHandover {
			report(childEvent{p: p, handover: msg, files: files})
			continue
		}
		closeFiles(files)
		switch msg.Type {
		case ipc.TypeReady:
			report(childEvent{p: p, ready: true})
		case ipc.TypeRetire:
			report(childEvent{p: p, retire: true})
		case ipc.TypeStopAll:
			report(childEvent{p: p, stopAll: msg.Mode})
		case ipc.TypeSetupFailed:
			report(childEvent{p: p, err: errors.New(msg.Error)})
		default:
			p.deliverReply(msg)
		}
	}
}

// openWrittenFiles opens the files a worker writes besides the main log
// (its access log) for appending, as the master: the child may run as an
// unprivileged user that could not open them itself. The caller closes
// them once sent.
func openWrittenFiles(w *config.Worker) ([]*os.File, error) {
	var files []*os.File
	for _, path := range w.WrittenFiles() {
		f, err := logging.OpenAppend(path)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("worker %q: %w", w.Name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// childEnv is the master's environment without what must not leak into
// children: the systemd notify socket (only the master notifies) and our
// own markers.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch key, _, _ := cutEnv(kv); key {
		case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
			ipc.ChildEnvMarker, "WORKERMAND_DAEMON":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// credential resolves a worker's user and group into the credential its
// children run with; nil keeps the master's.
func credential(w *config.Worker) (*syscall.Credential, error) {
	if w.User == "" && w.Group == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if w.User != "" {
		u, err := user.Lookup(w.User)
		if err != nil {
			return nil, fmt.Errorf("worker %q: user: %w", w.Name, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if gids, err := u.GroupIds(); err == nil {
			for _, g := range gids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	if w.Group != "" {
		g, err := user.LookupGroup(w.Group)
		if err != nil {
			return nil, fmt.Errorf("worker %q: group: %w", w.Name, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	if cred.Uid == uint32(os.Getuid()) && cred.Gid == uint32(os.Getgid()) && len(cred.Groups) == 0 {
		return nil, nil
	}
	return cred, nil
}
