package child

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/ipc"
)

// loopController is a Controller whose "event loop" is a goroutine the
// test blocks.
type loopController struct {
	keysController
	loop uint64
}

func (c *loopController) LoopGoroutine() uint64 { return c.loop }

// myGoroutine is the calling goroutine's number, read as the runtime prints
// it.
func myGoroutine() uint64 {
	var buf [64]byte
	return goroutineNumber(buf[:runtime.Stack(buf[:], false)])
}

//go:noinline
func stuckInAHandler(id chan<- uint64, release <-chan struct{}) {
	id <- myGoroutine()
	<-release
}

func TestLoopFirstReorders(t *testing.T) {
	dump := "goroutine 9 [running]:\nself()\n\ngoroutine 1 [chan receive]:\nmain.main()\n\n" +
		"goroutine 7 [select]:\nloop.Run()\n\ngoroutine 12 [IO wait]:\nnet.poll()\n"
	got, n := loopFirst([]byte(dump), 7)
	want := "goroutine 7 [select]:\nloop.Run()\n\ngoroutine 1 [chan receive]:\nmain.main()\n\n" +
		"goroutine 12 [IO wait]:\nnet.poll()\n\ngoroutine 9 [running]:\nself()\n"
	if string(got) != want || n != 4 {
		t.Errorf("loopFirst(…, 7) = %d goroutines:\n%s\nwant 4:\n%s", n, got, want)
	}
	// No loop: the runtime's order, the dumping goroutine last.
	got, _ = loopFirst([]byte(dump), 0)
	if !strings.HasPrefix(string(got), "goroutine 1 ") || !strings.HasSuffix(string(got), "self()\n") {
		t.Errorf("loopFirst(…, 0):\n%s", got)
	}
	if goroutineNumber([]byte("goroutine 123 [running]:")) != 123 || goroutineNumber([]byte("garbage")) != 0 {
		t.Error("goroutineNumber misreads a header")
	}
}

// The master asks a child whose loop is blocked for its stacks and a CPU
// profile: the answers come from another goroutine, the loop's stack
// first; a second profile while one runs and a duration out of bounds are
// refused.
func TestServeAnswersDebugRequests(t *testing.T) {
	master, ch := channelPair(t)
	ids, release := make(chan uint64), make(chan struct{})
	go stuckInAHandler(ids, release)
	defer close(release)
	c := &loopController{keysController: keysController{stopped: make(chan struct{})}, loop: <-ids}
	s := &Session{ch: ch}
	defer s.Close()
	go s.Serve(c)

	replies := make(chan *ipc.Message, 8)
	go func() {
		for {
			m, _, err := master.Recv(time.Time{})
			if err != nil {
				close(replies)
				return
			}
			replies <- m
		}
	}()
	ask := func(m *ipc.Message) {
		t.Helper()
		if err := master.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	byID := map[uint64]*ipc.Message{}
	await := func(id uint64) *ipc.Message {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for byID[id] == nil {
			select {
			case m, ok := <-replies:
				if !ok {
					t.Fatal("channel closed")
				}
				byID[m.ID] = m
			case <-deadline:
				t.Fatalf("no answer to request %d", id)
			}
		}
		return byID[id]
	}

	ask(&ipc.Message{Type: ipc.TypeDebugStack, ID: 1})
	r := await(1)
	if r.Error != "" || r.Debug == nil {
		t.Fatalf("stack answer: %+v", r)
	}
	first, _, _ := bytes.Cut(r.Debug.Stack, []byte("\n\n"))
	if goroutineNumber(first) != c.loop || !bytes.Contains(first, []byte("stuckInAHandler")) {
		t.Errorf("the dump does not start with the loop's goroutine %d in stuckInAHandler:\n%s", c.loop, first)
	}
	if r.Debug.LoopGoroutine != c.loop || r.Debug.Goroutines < 3 || r.Debug.Truncated {
		t.Errorf("stack answer: loop %d, %d goroutines, truncated %v", r.Debug.LoopGoroutine, r.Debug.Goroutines, r.Debug.Truncated)
	}

	ask(&ipc.Message{Type: ipc.TypeDebugProfile, ID: 2, Debug: &ipc.Debug{ProfileMS: 1000}})
	time.Sleep(100 * time.Millisecond)
	ask(&ipc.Message{Type: ipc.TypeDebugProfile, ID: 3, Debug: &ipc.Debug{ProfileMS: 1000}})
	ask(&ipc.Message{Type: ipc.TypeDebugProfile, ID: 4, Debug: &ipc.Debug{ProfileMS: 61_000}})
	if r := await(3); r.Error != errProfiling.Error() {
		t.Errorf("a second profile meanwhile: %+v", r)
	}
	if r := await(4); !strings.Contains(r.Error, "outside") {
		t.Errorf("a profile of 61 s: %+v", r)
	}
	r = await(2)
	if r.Error != "" || r.Debug == nil || !bytes.HasPrefix(r.Debug.Profile, []byte{0x1f, 0x8b}) {
		t.Fatalf("profile answer: error %q, %s", r.Error, describe(r.Debug))
	}
}

func describe(d *ipc.Debug) string {
	if d == nil {
		return "no debug field"
	}
	return fmt.Sprintf("%d bytes of profile", len(d.Profile))
}

// A dump of thousands of goroutines is far larger than one record of the
// channel: it arrives whole, in fragments, every goroutine in it.
func TestLargeStackDumpArrivesWhole(t *testing.T) {
	master, ch := channelPair(t)
	const parked = 3000
	release := make(chan struct{})
	defer close(release)
	for range parked {
		go func() { <-release }()
	}
	c := &loopController{keysController: keysController{stopped: make(chan struct{})}}
	s := &Session{ch: ch}
	defer s.Close()
	go s.Serve(c)
	if err := master.Send(&ipc.Message{Type: ipc.TypeDebugStack, ID: 1}); err != nil {
		t.Fatal(err)
	}
	r, _, err := master.Recv(time.Now().Add(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != "" || r.Debug == nil || r.Debug.Truncated {
		t.Fatalf("answer: %+v", r)
	}
	got := bytes.Count(r.Debug.Stack, []byte("\ngoroutine ")) + 1
	if got < parked || got != r.Debug.Goroutines || len(r.Debug.Stack) < 256<<10 {
		t.Errorf("%d bytes, %d goroutines in the dump (Goroutines %d); want %d parked ones at least", len(r.Debug.Stack), got, r.Debug.Goroutines, parked)
	}
	// No loop named: the runtime's order, the dumping goroutine last.
	if !bytes.Contains(r.Debug.Stack[bytes.LastIndex(r.Debug.Stack, []byte("\ngoroutine ")):], []byte("stackDump")) {
		t.Error("the dumping goroutine is not last")
	}
}
