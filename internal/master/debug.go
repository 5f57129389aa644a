package master

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/ipc"
)

// DebugRequest names the child of a debug_stack or debug_profile command:
// by PID, or by worker name and id (the slot's current process).
type DebugRequest struct {
	PID    int    `json:"pid,omitempty"`
	Worker string `json:"worker,omitempty"`
	ID     int    `json:"id,omitempty"`
	// Seconds (debug_profile) is how long to profile, MinProfileSeconds to
	// MaxProfileSeconds.
	Seconds int `json:"seconds,omitempty"`
}

// DebugReply is a child's answer, with who it is.
type DebugReply struct {
	PID        int    `json:"pid"`
	Worker     string `json:"worker"`
	ID         int    `json:"id"`
	Generation int    `json:"generation"`
	ipc.Debug
}

// The bounds of a CPU profile: a second is too few samples to read, and a
// profile holds the CLI and the master's request for its whole length.
const (
	MinProfileSeconds = 1
	MaxProfileSeconds = 60
)

// stackTimeout bounds a stack dump: the child answers off its loop, so
// only a stopped or starved process takes long. profileSlack is added to a
// profile's length for the same reason.
const (
	stackTimeout = 5 * time.Second
	profileSlack = 5 * time.Second
)

// debug forwards a debug command to the child it names and answers with
// the child's dump or profile, off the master loop: a profile takes
// seconds.
func (m *Master) debug(r *request) {
	q := r.Debug
	if q == nil {
		r.reply <- Response{Code: 2, Error: "debug: no process named (a pid or worker:id)"}
		return
	}
	msg := &ipc.Message{Type: ipc.TypeDebugStack}
	timeout := stackTimeout
	if r.Cmd == "debug_profile" {
		if q.Seconds < MinProfileSeconds || q.Seconds > MaxProfileSeconds {
			r.reply <- Response{Code: 2, Error: fmt.Sprintf("debug profile: --seconds %d is outside %d..%d", q.Seconds, MinProfileSeconds, MaxProfileSeconds)}
			return
		}
		d := time.Duration(q.Seconds) * time.Second
		msg = &ipc.Message{Type: ipc.TypeDebugProfile, Debug: &ipc.Debug{ProfileMS: d.Milliseconds()}}
		timeout = d + profileSlack
	}
	p, err := m.debugTarget(q)
	if err != nil {
		r.reply <- Response{Code: 1, Error: err.Error()}
		return
	}
	who := fmt.Sprintf("pid %d (worker %s #%d, gen %d)", p.pid, p.worker.Name, p.id, p.gen)
	log := m.log.With(zap.String("cmd", r.Cmd), zap.Int("child_pid", p.pid), zap.String("worker", p.worker.Name),
		zap.Int("id", p.id), zap.Int("gen", p.gen))
	log.Info("debug request", zap.Int("seconds", q.Seconds))
	go func() {
		ans, err := p.request(msg, timeout)
		switch {
		case errors.Is(err, errGone):
			err = fmt.Errorf("%s exited before it answered", who)
		case errors.Is(err, errBusy):
			err = fmt.Errorf("%s did not answer within %s (stopped, or a binary without debug support)", who, timeout)
		case err != nil:
			err = fmt.Errorf("asking %s: %w", who, err)
		case ans.Error != "":
			err = fmt.Errorf("%s: %s", who, ans.Error)
		case ans.Debug == nil:
			err = fmt.Errorf("%s answered without a dump or profile", who)
		}
		if err != nil {
			log.Warn("debug request failed", zap.Error(err))
			r.reply <- Response{Code: 1, Error: err.Error()}
			return
		}
		log.Info("debug request answered", zap.Int("stack_bytes", len(ans.Debug.Stack)), zap.Int("profile_bytes", len(ans.Debug.Profile)))
		r.reply <- Response{OK: true, Debug: &DebugReply{PID: p.pid, Worker: p.worker.Name, ID: p.id, Generation: p.gen, Debug: *ans.Debug}}
	}()
}

// debugTarget finds the child q names among the master's, one that reads
// its channel (its setup sent). Master loop only.
func (m *Master) debugTarget(q *DebugRequest) (*proc, error) {
	var p *proc
	if q.PID != 0 {
		for _, c := range m.children() {
			if c.pid == q.PID {
				p = c
			}
		}
		if p == nil {
			return nil, m.notAChild(q.PID)
		}
	} else {
		var err error
		if p, err = m.slotProcess(q.Worker, q.ID); err != nil {
			return nil, err
		}
	}
	p.keysMu.Lock()
	sent := p.setupSent
	p.keysMu.Unlock()
	if !sent {
		return nil, fmt.Errorf("pid %d (worker %s #%d) is still starting; try again in a moment", p.pid, p.worker.Name, p.id)
	}
	return p, nil
}

// slotProcess is the process serving worker's id: the current one,
// else one on its way in, else the newest one draining.
func (m *Master) slotProcess(worker string, id int) (*proc, error) {
	var names []string
	count := -1
	for _, w := range m.cfg.Workers {
		names = append(names, w.Name)
		if w.Name == worker {
			count = w.Count
		}
	}
	s := m.slots[slotKey{worker, id}]
	if s == nil {
		if count < 0 {
			return nil, fmt.Errorf("no worker named %q (workers: %s)", worker, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("worker %s has ids 0 to %d, not %d", worker, count-1, id)
	}
	for _, p := range []*proc{s.current, s.next} {
		if p != nil && p.state != stateExited {
			return p, nil
		}
	}
	draining := slices.Clone(s.draining)
	slices.SortFunc(draining, func(a, b *proc) int { return b.gen - a.gen })
	if len(draining) > 0 {
		return draining[0], nil
	}
	return nil, fmt.Errorf("worker %s #%d has no process right now (being restarted)", worker, id)
}

// notAChild says why pid is not a process debug can ask.
func (m *Master) notAChild(pid int) error {
	switch {
	case pid == os.Getpid():
		return fmt.Errorf("pid %d is the master; debug one of its worker processes (status lists them)", pid)
	case pid < 0:
		return fmt.Errorf("pid %d: not a process id", pid)
	case errors.Is(unix.Kill(pid, 0), unix.ESRCH):
		return fmt.Errorf("no process with pid %d", pid)
	}
	return fmt.Errorf("pid %d is not a worker process of this master (pid %d); status lists them", pid, os.Getpid())
}
