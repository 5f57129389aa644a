package master

import (
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/ipc"
)

// reloadOp rolls the slots onto a new config one at a time: the slot
// starts a replacement, and once it is ready the slot retires the old
// child and the roll moves on. Slots the new config dropped are vacated
// at the end.
type reloadOp struct {
	graceful bool
	queue    []*slot
	cur      *proc // the replacement in flight
	reply    func(error)
}

// reload validates the config file again and starts rolling. done (may be
// nil) is called when the reload finished or failed; an error returned here
// means it never started.
func (m *Master) reload(graceful bool, done func(error)) (err error) {
	defer func() {
		// Not one already rolling, nor a stop: the monitor asks again
		// while a reload rolls.
		if err != nil && !m.stopping && m.reloading == nil {
			m.metricsReloaded("refused")
		}
	}()
	if m.stopping {
		return errors.New("stopping")
	}
	if m.reloading != nil {
		return errors.New("a reload is already in progress")
	}
	if m.upgrading != nil {
		return errors.New("an upgrade is in progress; reload once it is done")
	}
	// A code-first program without a file reloads its code: the children
	// re-run the binary.
	if m.opts.Load == nil || m.cfg.Path == "" && m.cfg.Program == "" {
		return &ConfigError{errors.New("the embedded default config cannot be reloaded; start with -c FILE")}
	}
	next, err := m.opts.Load(m.cfg.Path)
	if err != nil {
		return &ConfigError{err}
	}
	if problems := m.cfg.Diff(next); len(problems) > 0 {
		return &ConfigError{errors.New(strings.Join(problems, "; "))}
	}
	for _, w := range next.Workers {
		if err := m.bindWorker(w); err != nil {
			return err
		}
	}
	m.opts.Notify("RELOADING=1")
	m.log.Info("reloading", zap.Bool("graceful", graceful), zap.String("config", next.Path))
	op := &reloadOp{graceful: graceful, reply: done}
	// Every slot the new config has gets its worker back below; the others
	// are dropped at once, so that a crash there is not respawned.
	for _, s := range m.slots {
		s.worker = nil
	}
	for _, w := range next.Workers {
		prev := workerNamed(m.cfg, w.Name)
		if prev != nil && !prev.Reloadable {
			// Not reloadable: keep the running children, tell them.
			*w = *prev
			for id := range w.Count {
				s := m.slotFor(w.Name, id)
				s.worker = w
				for _, p := range []*proc{s.current, s.next} {
					if p != nil {
						_ = p.ch.Send(&ipc.Message{Type: ipc.TypeReload})
					}
				}
			}
			continue
		}
		for id := range w.Count {
			s := m.slotFor(w.Name, id)
			s.worker = w
			op.queue = append(op.queue, s)
		}
	}
	for _, s := range m.slots {
		m.forget(s)
	}
	m.cfg = next
	m.reloading = op
	return nil
}

// advance starts the next slot when none is in flight, or finishes.
func (op *reloadOp) advance(m *Master) {
	if op.cur != nil {
		return
	}
	if len(op.queue) == 0 {
		op.finish(m, nil)
		return
	}
	s := op.queue[0]
	op.queue = op.queue[1:]
	p, err := s.replace(m, op.retirement(m))
	if err != nil {
		op.finish(m, err)
		return
	}
	op.cur = p
}

// childReady moves the roll on once its replacement is ready; the slot
// has retired the child it replaced.
func (op *reloadOp) childReady(p *proc) {
	if op.cur == p {
		op.cur = nil
	}
}

// childExited fails the roll when its replacement died before it was
// ready, with the reason the child gave, as start -d reports it: the
// operator running reload sees why, not only that, the new code failed.
func (op *reloadOp) childExited(m *Master, p *proc, status string) {
	if op.cur != p {
		return
	}
	if p.setupErr != nil {
		op.finish(m, fmt.Errorf("worker %q #%d: the new child could not start: %w", p.worker.Name, p.id, p.setupErr))
		return
	}
	op.finish(m, fmt.Errorf("worker %q #%d: the new child exited during start-up (%s); its output is in the log", p.worker.Name, p.id, status))
}

// retirement is how old children stop: a plain reload still answers what
// they have read (closing a just-accepted connection would reset its
// request); -g drains. Their connections that can move go to the new
// children.
func (op *reloadOp) retirement(m *Master) stopOrder {
	if op.graceful {
		return stopOrder{mode: ipc.StopDrain, timeout: m.cfg.GracefulTimeout.Duration, handOver: true}
	}
	return stopOrder{mode: ipc.StopQuiet, timeout: m.cfg.StopTimeout.Duration, handOver: true}
}

// finish retires what the new config dropped, closes sockets nobody uses
// any more, and reports.
func (op *reloadOp) finish(m *Master, err error) {
	m.reloading = nil
	if err == nil {
		m.metricsReloaded("ok")
	} else {
		m.metricsReloaded("failed")
	}
	if err == nil {
		for _, s := range m.slots {
			if s.worker == nil {
				s.vacate(m, op.retirement(m))
			}
		}
		m.closeSockets(func(k sockKey) bool {
			w := workerNamed(m.cfg, k.worker)
			return w != nil && w.Listen == k.listen && socketKind(w) == k.kind && (k.id < 0 || k.id < w.Count)
		})
		m.log.Info("reload complete")
	} else {
		m.log.Error("reload failed", zap.Error(err))
	}
	m.opts.Notify("READY=1")
	if op.reply != nil {
		op.reply(err)
	}
}
