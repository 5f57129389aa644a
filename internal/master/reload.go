package master

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
)

// reloadOp rolls the children onto a new config one slot at a time: start
// the replacement, wait until it is ready, then retire the old child.
type reloadOp struct {
	graceful bool
	queue    []rollTask
	cur      *rollTask
	leftover []*proc // children of removed workers or slots, retired at the end
	reply    func(error)
	oldCfg   *config.Config
}

type rollTask struct {
	w    *config.Worker
	id   int
	old  *proc
	next *proc
}

// reload validates the config file again and starts rolling. done (may be
// nil) is called when the reload finished or failed; an error returned here
// means it never started.
func (m *Master) reload(graceful bool, done func(error)) error {
	if m.stopping {
		return errors.New("stopping")
	}
	if m.reloading != nil {
		return errors.New("a reload is already in progress")
	}
	if m.opts.Load == nil || m.cfg.Path == "" {
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
	op := &reloadOp{graceful: graceful, reply: done, oldCfg: m.cfg}
	old := map[slotKey]*proc{}
	for _, p := range m.procs {
		if p.state == stateStarting || p.state == stateReady {
			old[slotKey{p.worker.Name, p.id}] = p
		}
	}
	for _, w := range next.Workers {
		prev := workerNamed(m.cfg, w.Name)
		if prev != nil && !prev.Reloadable {
			// Not reloadable: keep the running children, tell them.
			for id := range prev.Count {
				if p := old[slotKey{w.Name, id}]; p != nil {
					_ = p.ch.Send(&ipc.Message{Type: ipc.TypeReload})
					delete(old, slotKey{w.Name, id})
				}
			}
			*w = *prev
			continue
		}
		for id := range w.Count {
			k := slotKey{w.Name, id}
			op.queue = append(op.queue, rollTask{w: w, id: id, old: old[k]})
			delete(old, k)
		}
	}
	for _, p := range old {
		op.leftover = append(op.leftover, p)
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
	t := op.queue[0]
	op.queue = op.queue[1:]
	p, err := m.startSlot(t.w, t.id)
	if err != nil {
		op.finish(m, err)
		return
	}
	t.next = p
	op.cur = &t
}

func (op *reloadOp) childReady(m *Master, p *proc) {
	if op.cur == nil || op.cur.next != p {
		return
	}
	if op.cur.old != nil {
		m.retire(op.cur.old, op.retireMode(), op.retireTimeout(m), true)
	}
	op.cur = nil
}

func (op *reloadOp) childExited(m *Master, p *proc) {
	if op.cur != nil && op.cur.next == p {
		op.finish(m, fmt.Errorf("worker %q #%d: the new child exited before it was ready", p.worker.Name, p.id))
	}
}

// retireMode: a plain reload still answers what old children have read
// (closing a just-accepted connection would reset its request); -g drains.
func (op *reloadOp) retireMode() string {
	if op.graceful {
		return ipc.StopDrain
	}
	return ipc.StopQuiet
}

func (op *reloadOp) retireTimeout(m *Master) time.Duration {
	if op.graceful {
		return m.cfg.GracefulTimeout.Duration
	}
	return m.cfg.StopTimeout.Duration
}

// finish retires what the new config dropped, closes sockets nobody uses
// any more, and reports.
func (op *reloadOp) finish(m *Master, err error) {
	m.reloading = nil
	if err == nil {
		for _, p := range op.leftover {
			m.retire(p, op.retireMode(), op.retireTimeout(m), true)
		}
		m.closeSockets(func(k sockKey) bool {
			w := workerNamed(m.cfg, k.worker)
			return w != nil && w.Listen == k.listen && (k.id < 0 || k.id < w.Count)
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
