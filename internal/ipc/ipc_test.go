package ipc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/counters"
)

// pair is a connected channel pair for tests, both ends closed at the end.
func pair(t *testing.T) (*Channel, *Channel) {
	t.Helper()
	a, theirs, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromFile(theirs)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func recv(t *testing.T, c *Channel) (*Message, []*os.File) {
	t.Helper()
	m, files, err := c.Recv(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return m, files
}

// A setup carrying a config far above the socket buffer (a large `respond`
// body) arrives whole, with its descriptors; it used to fail with "message
// too long".
func TestLargeMessageArrivesWithItsDescriptors(t *testing.T) {
	a, b := pair(t)
	for _, size := range []int{maxRecord - 200, maxRecord + 1, 400 << 10, 5 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			config := bytes.Repeat([]byte("x"), size)
			f, err := os.CreateTemp(t.TempDir(), "fd")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fmt.Fprint(f, "the descriptor")
			sent := make(chan error, 1)
			// The reader must run while a large message is written: it
			// does not fit the socket buffer.
			go func() {
				sent <- a.Send(&Message{Type: TypeSetup, Setup: &Setup{Worker: "w", Config: config}}, int(f.Fd()))
			}()
			m, files := recv(t, b)
			if err := <-sent; err != nil {
				t.Fatalf("Send: %v", err)
			}
			defer closeAll(files)
			if m.Type != TypeSetup || m.Setup == nil || !bytes.Equal(m.Setup.Config, config) {
				t.Fatalf("got %s with %d config bytes, want setup with %d", m.Type, len(m.Setup.Config), size)
			}
			if len(files) != 1 {
				t.Fatalf("got %d descriptors, want 1", len(files))
			}
			got := make([]byte, 64)
			n, _ := files[0].ReadAt(got, 0)
			if string(got[:n]) != "the descriptor" {
				t.Errorf("descriptor reads %q", got[:n])
			}
		})
	}
}

// Messages sent from several goroutines at once (a status answer while a
// hand-over goes out) never mix their fragments.
func TestConcurrentSendersDoNotInterleave(t *testing.T) {
	a, b := pair(t)
	const senders, each = 4, 20
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				body := strings.Repeat(fmt.Sprint(s), 1+(i*37_000)%(3*maxRecord))
				if err := a.Send(&Message{Type: TypeStatus, ID: uint64(s*1000 + i), Error: body}); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		})
	}
	next := make([]int, senders)
	for range senders * each {
		m, _ := recv(t, b)
		s, i := int(m.ID/1000), int(m.ID%1000)
		if i != next[s] {
			t.Fatalf("sender %d: message %d arrived, want %d", s, i, next[s])
		}
		next[s]++
		if want := strings.Repeat(fmt.Sprint(s), 1+(i*37_000)%(3*maxRecord)); m.Error != want {
			t.Fatalf("sender %d message %d: body of %d bytes mangled", s, i, len(m.Error))
		}
	}
	wg.Wait()
}

// A peer speaking version 1 sent every message as one plain JSON record;
// it is still read.
func TestPlainRecordIsAMessage(t *testing.T) {
	a, b := pair(t)
	raw, _ := json.Marshal(&Message{Type: TypeHello, Version: 1, PID: 42})
	if _, _, err := a.conn.WriteMsgUnix(raw, nil, nil); err != nil {
		t.Fatal(err)
	}
	m, _ := recv(t, b)
	if m.Type != TypeHello || m.PID != 42 {
		t.Fatalf("got %+v", m)
	}
}

// Broken framing is an error for that message, and the channel goes on.
func TestBrokenFramingIsReported(t *testing.T) {
	a, b := pair(t)
	write := func(rec []byte) {
		t.Helper()
		if _, _, err := a.conn.WriteMsgUnix(rec, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	write(append([]byte{fragMore}, `{"type":"sta`...))
	write([]byte(`{"type":"status"}`))
	if _, _, err := b.Recv(time.Now().Add(5 * time.Second)); err == nil || !strings.Contains(err.Error(), "inside a fragmented") {
		t.Fatalf("whole record inside a fragmented message: err = %v", err)
	}
	write([]byte("not json"))
	if _, _, err := b.Recv(time.Now().Add(5 * time.Second)); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("garbage: err = %v", err)
	}
	write(append([]byte{fragMore}, `{"type":`...))
	write(append([]byte{fragLast}, `"ready"}`...))
	if m, _ := recv(t, b); m.Type != TypeReady {
		t.Fatalf("after the errors: %+v", m)
	}
}

func TestClosedPeerIsEOF(t *testing.T) {
	a, b := pair(t)
	a.Close()
	_, _, err := b.Recv(time.Now().Add(5 * time.Second))
	if !IsClosed(err) {
		t.Fatalf("Recv after the peer closed: %v, want a closed channel", err)
	}
}

// The master asks each child for its counters every second: one such round
// trip must cost a few KB, not a message-sized buffer (it was 4 MiB, and
// an idle master with 16 children held 150 MB).
func TestSmallMessagesAllocateLittle(t *testing.T) {
	a, b := pair(t)
	st := &ProcessStatus{PID: 1, Worker: "echo", Counters: counters.Counters{Connections: 10_000, TotalRequest: 1 << 40}}
	roundTrip := func() {
		if err := a.Send(&Message{Type: TypeStatus, ID: 7, Status: st}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Recv(time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // the reader's buffers are made once
	const rounds = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > 4<<10 {
		t.Errorf("a status round trip allocates %d bytes, want under 4 KiB", per)
	}
}
