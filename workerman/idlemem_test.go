//go:build !race

package workerman_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// rawWSClient opens a websocket and exchanges one message on it with bare
// system calls, so the client side holds no heap memory of its own: the
// heap a test measures is the server's.
func rawWSClient(t testing.TB, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	// A receive timeout bounds each read; with it set, a signal (the
	// runtime's preemption) interrupts a blocking call with EINTR.
	tv := unix.NsecToTimeval(ioTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := retryEINTR(func() error {
		return unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	}); err != nil && !errors.Is(err, unix.EISCONN) {
		unix.Close(fd)
		t.Fatalf("connect: %v", err)
	}
	write := func(b []byte) {
		t.Helper()
		for len(b) > 0 {
			n, err := unix.Write(fd, b)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			b = b[n:]
		}
	}
	var buf [512]byte
	got := 0
	read := func(until func() bool) {
		t.Helper()
		for !until() {
			n, err := unix.Read(fd, buf[got:])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || n <= 0 {
				t.Fatalf("read: %d, %v (%q)", n, err, buf[:got])
			}
			got += n
		}
	}
	write([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	read(func() bool { return bytes.Contains(buf[:got], []byte("\r\n\r\n")) })
	if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake answer %q", buf[:got])
	}
	// One masked text frame "hi" (mask key 0); its echo proves the server
	// read a message, so what it makes only for one is made too.
	got = 0
	write([]byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'})
	read(func() bool { return got >= 4 })
	if string(buf[:got]) != "\x81\x02hi" {
		t.Fatalf("echo %q", buf[:got])
	}
	return fd
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// liveHeap is the heap's live bytes after collections have settled.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// maxIdleWebSocketHeap bounds the heap an idle websocket keeps in its
// process: the connection (netloop.Conn inside workerman.Connection), the
// websocket codec, its entries in the worker's connection map and the
// loop's descriptor table. 590 bytes when written; the process's resident
// memory per connection is about this plus the runtime's page overhead
// (scalebench: ~700 B per connection at 100,000), so a regression here
// shows before the 1 KiB goal is missed.
const maxIdleWebSocketHeap = 680

// TestIdleWebSocketHeapPerConnection holds 3,000 upgraded websockets that
// each exchanged one message, and checks the live heap they add per
// connection. The clients are bare descriptors, so the heap measured is
// the server's.
func TestIdleWebSocketHeapPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 6,000 descriptors")
	}
	const warm, n = 100, 3000
	w := workerman.NewWorker("websocket://127.0.0.1:0")
	w.Name = "idle"
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	port := int(w.Addr().Port())
	fds := make([]int, 0, warm+n)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	// The first connections grow what is made once per process (buffers
	// of the loop, the codec's pools).
	for range warm {
		fds = append(fds, rawWSClient(t, port))
	}
	waitOnLoop(t, p, "the warm-up connections", func() bool { return w.ConnectionCount() == warm })
	before := liveHeap()
	for range n {
		fds = append(fds, rawWSClient(t, port))
	}
	waitOnLoop(t, p, "every connection", func() bool { return w.ConnectionCount() == warm+n })
	after := liveHeap()
	per := float64(int64(after)-int64(before)) / n
	t.Logf("live heap per idle websocket: %.0f bytes (bound %d)", per, maxIdleWebSocketHeap)
	if per > maxIdleWebSocketHeap {
		t.Errorf("an idle websocket keeps %.0f bytes of heap, over the bound of %d: profile it with "+
			"runtime.MemProfileRate = 1 and go tool pprof -sample_index=inuse_space", per, maxIdleWebSocketHeap)
	}
}
