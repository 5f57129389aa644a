package master

import (
	"math"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
)

// fakeProc is a child without a process: the master's end of a channel
// whose other end the test reads. Its pid names no process (above any
// pid_max), so a SIGTERM or SIGKILL sent to it reaches nobody.
func fakeProc(t *testing.T, s *slot, state childState) (*proc, *ipc.Channel) {
	t.Helper()
	mine, theirs, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	child, err := ipc.FromFile(theirs)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mine.Close(); child.Close() })
	return &proc{slot: s, worker: s.worker, id: s.key.id, ch: mine, pid: math.MaxInt32, state: state,
		start: time.Now(), conversed: make(chan struct{})}, child
}

func newTestMaster(t *testing.T, log *zap.Logger) *Master {
	t.Helper()
	m := New(&config.Config{}, Options{Logger: log, BackoffMin: 10 * time.Millisecond,
		BackoffMax: 40 * time.Millisecond, StableAfter: time.Hour})
	t.Cleanup(func() { close(m.done) })
	return m
}

// A replacement that reports ready takes the slot over, and only then is
// the child it replaces told to stop, as the replacement's order says.
func TestSlotReplacementTakesOverWhenReady(t *testing.T) {
	m := newTestMaster(t, zap.NewNop())
	s := m.slotFor("w", 0)
	s.worker = &config.Worker{Name: "w", Count: 1}
	old, oldEnd := fakeProc(t, s, stateReady)
	next, nextEnd := fakeProc(t, s, stateStarting)
	s.current, s.next = old, next
	s.handoff = stopOrder{mode: ipc.StopDrain, handOver: true}

	if got := m.successor(old); got != nil {
		t.Errorf("successor while the replacement starts: pid %d, want none", got.pid)
	}
	s.ready(m, next)
	if s.current != next || s.next != nil || len(s.draining) != 1 || s.draining[0] != old {
		t.Fatalf("after ready: current %p next %p draining %v; want current %p, %p draining", s.current, s.next, s.draining, next, old)
	}
	if old.state != stateDraining || next.state != stateReady {
		t.Errorf("states: old %s, replacement %s; want draining, ready", old.state, next.state)
	}
	msg, files, err := oldEnd.Recv(time.Now().Add(time.Second))
	closeFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Type != ipc.TypeStop || msg.Mode != ipc.StopDrain || !msg.HandOver {
		t.Errorf("the old child was told %+v; want a draining stop with hand-over", msg)
	}
	if _, _, err := nextEnd.Recv(time.Now().Add(50 * time.Millisecond)); err == nil {
		t.Error("the replacement was sent a message")
	}
	if got := m.successor(old); got != next {
		t.Errorf("the old child's connections go to %v, want the replacement", got)
	}

	s.exited(old)
	if len(s.draining) != 0 || old.state != stateExited || !s.busy() {
		t.Errorf("after the old child's exit: draining %v, state %s, busy %v", s.draining, old.state, s.busy())
	}
	s.exited(next)
	if s.busy() || len(s.children(nil)) != 0 {
		t.Errorf("after the last exit the slot still has %v", s.children(nil))
	}
}

// Connections of a dropped slot go to the live child with the lowest id of
// the same worker; a child still starting takes none.
func TestSuccessorOfADroppedSlot(t *testing.T) {
	m := newTestMaster(t, zap.NewNop())
	w := &config.Worker{Name: "w", Count: 3}
	slots := make([]*slot, 3)
	procs := make([]*proc, 3)
	for id := range slots {
		slots[id] = m.slotFor("w", id)
		slots[id].worker = w
		procs[id], _ = fakeProc(t, slots[id], stateReady)
		slots[id].current = procs[id]
	}
	other := m.slotFor("other", 0)
	other.worker = &config.Worker{Name: "other", Count: 1}
	other.current, _ = fakeProc(t, other, stateReady)

	procs[1].state = stateStarting
	slots[0].worker = nil
	slots[0].vacate(m, stopOrder{mode: ipc.StopDrain, handOver: true})
	if got := m.successor(procs[0]); got != procs[2] {
		t.Errorf("successor: %v, want slot 2's child", got)
	}
	procs[1].state = stateReady
	if got := m.successor(procs[0]); got != procs[1] {
		t.Errorf("successor: %v, want slot 1's child", got)
	}
	slots[0].exited(procs[0])
	m.forget(slots[0])
	if m.slots[slotKey{"w", 0}] != nil {
		t.Error("a dropped slot stays in the table after its last child exited")
	}
}

// A slot that crashes soon after each start waits twice as long each time,
// up to BackoffMax; a child that lived StableAfter resets the count.
func TestSlotBackoffDoubles(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	m := newTestMaster(t, zap.New(core))
	m.stopping = true // the respawns do nothing: no process is started
	s := m.slotFor("w", 0)
	s.worker = &config.Worker{Name: "w", Count: 1}
	t.Cleanup(func() {
		if s.backoff != nil {
			s.backoff.Stop()
		}
	})
	var delays []time.Duration
	crash := func(lived time.Duration) {
		p, _ := fakeProc(t, s, stateReady)
		p.start = time.Now().Add(-lived)
		s.current = p
		s.exited(p)
		s.crashed(m, p)
	}
	for range 5 {
		crash(0)
	}
	for _, e := range logs.FilterMessage("slot is crash-looping; backing off").All() {
		for _, f := range e.Context {
			if f.Key == "delay" {
				delays = append(delays, time.Duration(f.Integer))
			}
		}
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
	if len(delays) != len(want) {
		t.Fatalf("back-off delays %v, want %v", delays, want)
	}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("back-off delays %v, want %v", delays, want)
			break
		}
	}
	crash(2 * time.Hour)
	if s.failures != 1 || logs.FilterMessage("slot is crash-looping; backing off").Len() != len(want) {
		t.Errorf("after a stable child: %d failures, want 1, and no back-off", s.failures)
	}
}
