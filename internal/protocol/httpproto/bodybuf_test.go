package httpproto

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/httpparse"
)

// feedLoop hands the codec reads of readSize bytes from input, as the loop
// does, and returns the delivered messages' bodies, the first error, and the
// most input the loop ever had to keep unconsumed between reads.
func feedLoop(c *conn, input []byte, readSize int) (bodies [][]byte, kept int, err error) {
	var in []byte
	for len(input) > 0 {
		n := min(readSize, len(input))
		in = append(in, input[:n]...)
		input = input[n:]
		for len(in) > 0 {
			m, err := c.Input(in)
			if err != nil {
				return bodies, kept, err
			}
			if m == 0 {
				break
			}
			if m > len(in) {
				return bodies, kept, fmt.Errorf("Input asked the loop to buffer %d bytes", m)
			}
			msg, err := c.Decode(in[:m])
			if err != nil {
				return bodies, kept, err
			}
			in = in[m:]
			if msg.Kind != codec.KindNone {
				bodies = append(bodies, bytes.Clone(msg.Data))
				if _, err := c.Encode(nil, []byte("ok")); err != nil {
					return bodies, kept, err
				}
			}
		}
		kept = max(kept, len(in))
	}
	return bodies, kept, nil
}

func chunked(body []byte, size int) []byte {
	var b bytes.Buffer
	for p := range slices.Chunk(body, size) {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// TestLargeBodyTakenAsItArrives: the body of a request is taken by the
// codec read by read into one buffer, so the loop keeps at most a chunk-size
// line between reads, whatever the framing; the buffer is not kept by the
// connection once the request is answered.
func TestLargeBodyTakenAsItArrives(t *testing.T) {
	const maxPkg = 1 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), (maxPkg-4096)/16)
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"content-length", append(fmt.Appendf(nil, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body)), body...)},
		{"chunked", append([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), chunked(body, 10000)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default.NewCodec(&fakeConn{maxPkg: maxPkg}).(*conn)
			// Twice: the second request reuses what the first left.
			input := append(bytes.Clone(tc.input), tc.input...)
			bodies, kept, err := feedLoop(c, input, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			if len(bodies) != 2 || !bytes.Equal(bodies[0], body) || !bytes.Equal(bodies[1], body) {
				t.Fatalf("%d requests delivered; want 2 with the whole body", len(bodies))
			}
			if kept > httpparse.MaxChunkLine {
				t.Errorf("the loop had to keep %d bytes between reads", kept)
			}
			if c.large || cap(c.body) > keptBufferCap || cap(c.raw) > keptBufferCap {
				t.Errorf("the idle connection keeps %d + %d bytes of buffers (large %v)", cap(c.body), cap(c.raw), c.large)
			}
		})
	}
}

// TestLargeBodyBufferReused: the buffer of an answered body serves the next
// one, on any connection, instead of new memory.
func TestLargeBodyBufferReused(t *testing.T) {
	if !recycleBodies {
		t.Skip("race and wmdebug builds do not recycle body buffers")
	}
	const maxPkg = 1 << 20
	body := bytes.Repeat([]byte("x"), maxPkg-4096)
	req := append(fmt.Appendf(nil, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body)), body...)
	var data []*byte
	for range 3 {
		c := Default.NewCodec(&fakeConn{maxPkg: maxPkg}).(*conn)
		var seen *byte
		in := req
		for len(in) > 0 {
			n, err := c.Input(in[:min(len(in), 64<<10)])
			if err != nil || n == 0 {
				t.Fatalf("Input: %d, %v", n, err)
			}
			m, _ := c.Decode(in[:n])
			in = in[n:]
			if m.Kind != codec.KindNone {
				seen = unsafe.SliceData(m.Data)
				c.Encode(nil, nil)
			}
		}
		data = append(data, seen)
	}
	if data[0] == nil || data[1] != data[0] || data[2] != data[0] {
		t.Fatalf("bodies read into %p, %p, %p: want one buffer reused", data[0], data[1], data[2])
	}
}

// TestChunkedFloodStopsAtLimit: a chunked body that does not end within
// max_package_size is refused with 413 once that much was read, and its
// buffer is let go.
func TestChunkedFloodStopsAtLimit(t *testing.T) {
	const maxPkg = 1 << 20
	fc := &fakeConn{maxPkg: maxPkg}
	c := Default.NewCodec(fc).(*conn)
	flood := append([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
		bytes.Repeat([]byte("1000\r\n"+strings.Repeat("f", 0x1000)+"\r\n"), 2*maxPkg/0x1000)...)
	_, _, err := feedLoop(c, flood, 64<<10)
	var he *httpparse.Error
	if !errors.As(err, &he) || he.Status != 413 {
		t.Fatalf("error %v, want a 413", err)
	}
	if !bytes.HasPrefix(fc.raw, []byte("HTTP/1.1 413 ")) {
		t.Fatalf("answer %q", fc.raw)
	}
	if c.body != nil || c.large {
		t.Errorf("the refused body's buffer (%d bytes) is still held", cap(c.body))
	}
}

// However a chunked body's reads are cut, the buffers its growth takes
// (all held at once: the smaller ones wait on the free list) stay under
// twice max_package_size.
func TestChunkedGrowthStaysUnderTwiceTheLimit(t *testing.T) {
	for _, maxPkg := range []int{1 << 20, 10 << 20, 10<<20 + 12345, 64 << 20} {
		for first := keptBufferCap + 1; first <= maxPkg; first += max(maxPkg/997, 1) {
			have, total, steps := largeClass(first, maxPkg), 0, 0
			total = have
			for have < maxPkg {
				// The worst case: each step needed one byte more than it had.
				next := largeClass(grownBodySize(have, have+1, maxPkg), maxPkg)
				if next <= have {
					t.Fatalf("max %d, first read %d: no growth from %d", maxPkg, first, have)
				}
				have, total, steps = next, total+next, steps+1
			}
			if total >= 2*maxPkg {
				t.Fatalf("max %d, first read %d: %d steps take %d bytes, %.2fx the limit", maxPkg, first, steps, total, float64(total)/float64(maxPkg))
			}
		}
	}
}
