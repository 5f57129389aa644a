package echo_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/workermand/workermand/handlers/echo"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// serve runs an echo worker on listen (port 0 on loopback) until the test
// ends and returns a connection to it.
func serve(t *testing.T, listen string) net.Conn {
	t.Helper()
	h, err := workerman.NewHandler("echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(*echo.Handler); !ok {
		t.Fatalf(`NewHandler("echo") = %T, want *echo.Handler`, h)
	}
	w := workerman.NewWorker(listen)
	w.Name = "echo"
	w.Handler = h
	workermantest.Start(t, w)
	return workermantest.Dial(t, w)
}

// writePieces writes b in pieces of the given sizes (the rest at once), so
// the server sees messages split across reads.
func writePieces(t *testing.T, c net.Conn, b []byte, sizes ...int) {
	t.Helper()
	for _, n := range sizes {
		n = min(n, len(b))
		if _, err := c.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
		// Each piece in its own segment, most of the time: a few
		// milliseconds is plenty on loopback and no correctness depends
		// on it.
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func readExactly(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading %d bytes: %v (got %q…)", len(want), err, got[:min(len(got), 40)])
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("echo differs from byte %d: got %q…, want %q…", i, got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
	}
}

func TestEchoText(t *testing.T) {
	c := serve(t, "text://127.0.0.1:0")
	long := bytes.Repeat([]byte("0123456789"), 20000) // 200 KB line
	in := append([]byte("hello\nwith cr\r\n\nsecond line\n"), long...)
	in = append(in, '\n')
	writePieces(t, c, in, 3, 5, 1, 20, 1000)
	want := append([]byte("hello\nwith cr\n\nsecond line\n"), long...)
	readExactly(t, c, append(want, '\n'))

	// An unterminated line is not echoed until it is complete.
	c.Write([]byte("partial"))
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 16)); n != 0 || err == nil {
		t.Fatalf("a partial line was answered: %d bytes, %v", n, err)
	}
	c.SetDeadline(time.Now().Add(workermantest.Timeout))
	c.Write([]byte(" line\n"))
	readExactly(t, c, []byte("partial line\n"))
}

func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload)+4)), payload...)
}

func TestEchoFrame(t *testing.T) {
	c := serve(t, "frame://127.0.0.1:0")
	var in []byte
	for _, n := range []int{0, 1, 3, 4, 1000, 200 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + n)
		}
		in = append(in, frame(p)...)
	}
	// Split inside the first header, inside bodies and across frames.
	writePieces(t, c, in, 1, 1, 1, 2, 3, 9, 100, 5000)
	readExactly(t, c, in)
}

func TestEchoRawTCP(t *testing.T) {
	c := serve(t, "tcp://127.0.0.1:0")
	in := make([]byte, 1<<20)
	for i := range in {
		in[i] = byte(i ^ i>>8)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(in)
		done <- err
	}()
	readExactly(t, c, in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestEchoHasNoOptions(t *testing.T) {
	if _, err := workerman.NewHandler("echo", workermantest.DecodeTOML("loud = true\n")); err == nil {
		t.Error("the echo handler accepted an option")
	}
	if _, err := workerman.NewHandler("echo", workermantest.DecodeTOML("")); err != nil {
		t.Errorf("the echo handler with no options: %v", err)
	}
}
