package master

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
)

// slotKey names a slot: a worker and an id below its count.
type slotKey struct {
	worker string
	id     int
}

// slot is one place of a worker that a child fills. It outlives its
// children, so that a crash loop's back-off and a replacement in flight
// belong to the place and not to whichever process fills it. Its children
// change only through its methods, one transition each, called by the
// master loop alone:
//
//	fill     empty → current starting            (start-up, respawn)
//	replace  current → current + next starting   (reload, max_requests)
//	ready    next ready → next is current, the old current retires
//	retire   a child → draining                  (hand-off; vacate, stop: all)
//	exited   a child leaves the slot; crashed then respawns, backing off
type slot struct {
	key slotKey
	// worker is the config the slot's next child runs. A reload replaces
	// it at once, so that a respawn during the roll runs the new config,
	// and sets it to nil when the new config drops the slot: nothing fills
	// the slot then, unless a later reload brings it back.
	worker *config.Worker
	// current serves the slot, starting or ready; nil while the slot is
	// empty (between a crash and its respawn, or once told to stop).
	current *proc
	// next takes over once it is ready, and current then stops as handoff
	// says: until then current keeps accepting, so the slot has no gap.
	next    *proc
	handoff stopOrder
	// draining children were told to stop: their exits are expected.
	draining []*proc
	// failures counts the crashes soon after start in a row; the delay of
	// the next respawn doubles with each.
	failures int
	backoff  *time.Timer
}

// stopOrder is how a child is told to stop.
type stopOrder struct {
	mode     string        // ipc.StopNow, ipc.StopQuiet or ipc.StopDrain
	timeout  time.Duration // until the kill; a drain with 0 waits forever
	handOver bool          // connections that can move go to the successor
}

// slotFor returns the slot of worker name's id, creating an empty one.
func (m *Master) slotFor(name string, id int) *slot {
	k := slotKey{name, id}
	s := m.slots[k]
	if s == nil {
		s = &slot{key: k}
		m.slots[k] = s
	}
	return s
}

// forget drops a slot the config no longer has once its last child is
// gone; a reload that brings the slot back starts afresh.
func (m *Master) forget(s *slot) {
	if s.worker == nil && len(s.children(nil)) == 0 && m.slots[s.key] == s {
		delete(m.slots, s.key)
	}
}

// children lists every live child of every slot.
func (m *Master) children() []*proc {
	var out []*proc
	for _, s := range m.slots {
		out = s.children(out)
	}
	return out
}

// children appends the slot's live children to out.
func (s *slot) children(out []*proc) []*proc {
	if s.current != nil {
		out = append(out, s.current)
	}
	if s.next != nil {
		out = append(out, s.next)
	}
	return append(out, s.draining...)
}

// busy reports whether a child that is not stopping fills the slot or is
// about to.
func (s *slot) busy() bool { return s.current != nil || s.next != nil }

// start spawns a child for the slot on the slot's listening socket.
func (s *slot) start(m *Master) (*proc, error) {
	if s.worker.Listen == "" {
		return m.spawn(s, -1)
	}
	fd, ok := m.socketFor(s.worker, s.key.id)
	if !ok {
		return nil, fmt.Errorf("worker %q #%d: no listening socket", s.key.worker, s.key.id)
	}
	return m.spawn(s, fd)
}

// fill starts the child that serves an empty slot.
func (s *slot) fill(m *Master) (*proc, error) {
	p, err := s.start(m)
	if err != nil {
		return nil, err
	}
	s.current = p
	return p, nil
}

// replace starts the child that takes the slot over once it is ready;
// current serves until then and stops as o says. A replacement still
// starting runs a config the slot has left (a max_requests replacement
// when a reload reaches the slot): it stops, and the new child takes its
// place.
func (s *slot) replace(m *Master, o stopOrder) (*proc, error) {
	if s.next != nil {
		s.retire(m, s.next, o)
	}
	p, err := s.start(m)
	if err != nil {
		return nil, err
	}
	s.next, s.handoff = p, o
	return p, nil
}

// ready marks p, which was starting, ready. A replacement takes the slot
// over and the child it replaces stops.
func (s *slot) ready(m *Master, p *proc) {
	p.state = stateReady
	if p != s.next {
		return
	}
	old := s.current
	s.current, s.next = p, nil
	if old != nil {
		s.retire(m, old, s.handoff)
	}
}

// retire tells p to stop as o says and kills its whole process group if
// it is still there after o's timeout plus a margin. Telling a draining
// child again changes how it stops (an immediate stop cuts a drain short).
func (s *slot) retire(m *Master, p *proc, o stopOrder) {
	if p.state == stateExited {
		return
	}
	s.unseat(p)
	if p.state != stateDraining {
		s.draining = append(s.draining, p)
		p.state = stateDraining
	}
	if err := p.ch.Send(&ipc.Message{Type: ipc.TypeStop, Mode: o.mode, TimeoutMS: o.timeout.Milliseconds(), HandOver: o.handOver}); err != nil {
		_ = syscall.Kill(p.pid, syscall.SIGTERM)
	}
	timeout := o.timeout
	if timeout <= 0 && o.mode == ipc.StopDrain {
		return
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	pid := p.pid
	time.AfterFunc(timeout+500*time.Millisecond, func() {
		m.post(func() {
			if p.state != stateExited {
				m.log.Warn("child did not stop in time; killing it", zap.Int("child_pid", pid))
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		})
	})
}

// vacate tells the children that serve the slot, or are about to, to stop
// as o says: the config dropped the slot.
func (s *slot) vacate(m *Master, o stopOrder) {
	for _, p := range []*proc{s.current, s.next} {
		if p != nil {
			s.retire(m, p, o)
		}
	}
}

// stop tells every child of the slot to stop as o says, the draining ones
// again, and cancels a pending respawn.
func (s *slot) stop(m *Master, o stopOrder) {
	if s.backoff != nil {
		s.backoff.Stop()
	}
	for _, p := range s.children(nil) {
		s.retire(m, p, o)
	}
}

// exited takes p, whose process has ended, out of the slot.
func (s *slot) exited(p *proc) {
	if !s.unseat(p) {
		s.draining = slices.DeleteFunc(s.draining, func(q *proc) bool { return q == p })
	}
	p.state = stateExited
}

// unseat takes p out of current or next, and reports whether it was there.
func (s *slot) unseat(p *proc) bool {
	switch p {
	case s.current:
		s.current = nil
	case s.next:
		s.next = nil
	default:
		return false
	}
	return true
}

// crashed respawns the slot after p's unexpected exit: at once the first
// time, then with a delay that doubles while the slot keeps crashing soon
// after start.
func (s *slot) crashed(m *Master, p *proc) {
	if time.Since(p.start) >= m.opts.StableAfter {
		s.failures = 0
	}
	delay := time.Duration(0)
	if s.failures > 0 {
		delay = min(m.opts.BackoffMin<<min(s.failures-1, 20), m.opts.BackoffMax)
		m.log.Warn("slot is crash-looping; backing off", zap.String("worker", s.key.worker), zap.Int("id", s.key.id),
			zap.Int("failures", s.failures), zap.Duration("delay", delay))
	}
	s.failures++
	if delay == 0 {
		s.respawn(m)
		return
	}
	s.backoff = time.AfterFunc(delay, func() { m.post(func() { s.respawn(m) }) })
}

// respawn fills the slot after a crash, unless a child fills it already
// (a replacement that was starting, or one a reload started during the
// back-off), the config dropped it, or the master stops.
func (s *slot) respawn(m *Master) {
	if m.stopping || s.worker == nil || s.busy() {
		return
	}
	if _, err := s.fill(m); err != nil {
		m.log.Error("respawn failed", zap.String("worker", s.key.worker), zap.Int("id", s.key.id), zap.Error(err))
	}
}
