package master

import (
	"os"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
)

// A retiring child sends its hand-over in several messages and exits with
// a request of the master's still unread (the once-a-second status sample).
// Linux then reports ECONNRESET to the master ahead of the queued
// messages; every hand-over must still reach the master loop with all its
// descriptors.
func TestRouteReadsHandoversQueuedBeforeAResetExit(t *testing.T) {
	mine, theirs, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	child, err := ipc.FromFile(theirs)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}

	// The master's request the child never reads.
	if err := mine.Send(&ipc.Message{Type: ipc.TypeStatus, ID: 1}); err != nil {
		t.Fatal(err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	batches := []int{64, 64, 64, 8}
	for _, n := range batches {
		hs := make([]ipc.Handover, n)
		fds := make([]int, n)
		for i := range fds {
			fds[i] = int(devnull.Fd())
		}
		if err := child.Send(&ipc.Message{Type: ipc.TypeHandover, Worker: "w", Handovers: hs}, fds...); err != nil {
			t.Fatal(err)
		}
	}
	child.Close() // the child exits

	m := New(&config.Config{}, Options{Logger: zap.NewNop()})
	p := &proc{worker: &config.Worker{Name: "w"}, ch: mine, conversed: make(chan struct{})}
	var got []int
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.route(p, func(ev childEvent) {
			if ev.handover != nil {
				got = append(got, len(ev.files))
				closeFiles(ev.files)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("route did not return at the end of the channel")
	}
	if len(got) != len(batches) {
		t.Fatalf("hand-overs reported: %v, want %v", got, batches)
	}
	for i, n := range batches {
		if got[i] != n {
			t.Errorf("hand-over %d carried %d descriptors, want %d", i, got[i], n)
		}
	}
}
