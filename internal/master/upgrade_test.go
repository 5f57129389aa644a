package master

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
)

// The hand-off of an upgrade carries every socket with its key, more than
// one message holds (reuse_port slots add up), the lock, and what the new
// master goes on from: generation, exit counts, ticket keys.
func TestHandoffRoundTrip(t *testing.T) {
	lock, err := os.Create(filepath.Join(t.TempDir(), "pid.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	old := New(&config.Config{}, Options{LockFile: func() *os.File { return lock }})
	const n = 130
	for id := range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		old.sockets[sockKey{worker: "w", listen: "tcp://127.0.0.1:1", kind: "tcp", id: id}] = fd
	}
	old.generation = 42
	old.countExit("w", "exit 0")
	old.countExit("w", "signal 9")
	ch, theirs, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	sent := make(chan error, 1)
	go func() { sent <- old.sendHandoff(ch) }()
	in, err := ReceiveHandoff(theirs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if len(in.sockets) != n {
		t.Fatalf("%d sockets received, want %d", len(in.sockets), n)
	}
	ids := map[int]bool{}
	for _, s := range in.sockets {
		if s.key == nil || s.key.worker != "w" || s.key.kind != "tcp" || socketKindOf(s.fd) != "tcp" {
			t.Fatalf("socket %+v (key %+v) is not one of the sent", s, s.key)
		}
		ids[s.key.id] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct slots, want %d", len(ids), n)
	}
	if in.Lock == nil {
		t.Fatal("no lock received")
	}
	var a, b unix.Stat_t
	_ = unix.Fstat(int(lock.Fd()), &a)
	_ = unix.Fstat(int(in.Lock.Fd()), &b)
	if a.Ino != b.Ino {
		t.Errorf("the lock received is another file")
	}
	next := New(&config.Config{}, Options{Inherit: in})
	if next.generation != 42 || next.exitCounts["w"]["exit 0"] != 1 || next.exitCounts["w"]["signal 9"] != 1 {
		t.Errorf("new master: generation %d, exit counts %v", next.generation, next.exitCounts)
	}
	if got, want := next.ticketKeys.current(), old.ticketKeys.current(); len(got) != len(want) || got[0] != want[0] {
		t.Errorf("the TLS session-ticket keys did not carry over")
	}
}
