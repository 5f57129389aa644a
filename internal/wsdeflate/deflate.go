package wsdeflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrTooLarge is wrapped by Decompress errors when the inflated message
// would exceed the caller's limit (a WebSocket server closes with 1009).
var ErrTooLarge = errors.New("wsdeflate: inflated message exceeds limit")

// syncTail is the empty stored block that ends every flushed message; RFC
// 7692 §7.2.1 has the sender drop it and §7.2.2 has the receiver put it back.
var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// inflateTail is syncTail followed by an empty final stored block, so the
// inflater reports a clean io.EOF at the end of a message instead of an
// unexpected EOF that would be indistinguishable from truncated input.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// windowSize is the LZ77 window of compress/flate (window bits 15).
const windowSize = 1 << 15

// sink collects a flate.Writer's output into a caller's slice.
type sink struct{ buf []byte }

func (s *sink) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// deflate writes msg through fw into dst and strips the sync tail.
func deflate(fw *flate.Writer, s *sink, dst, msg []byte) []byte {
	s.buf = dst
	// Writes into a sink cannot fail, so neither can the writer.
	_, _ = fw.Write(msg)
	_ = fw.Flush()
	out := s.buf
	s.buf = nil
	if !bytes.HasSuffix(out[len(dst):], syncTail) {
		panic("wsdeflate: flate.Writer.Flush did not end with a sync marker")
	}
	return out[:len(out)-len(syncTail)]
}

// Compressor compresses messages for connections that negotiated no context
// takeover in the sending direction. It is safe for concurrent use and meant
// to be shared by all connections of a process: its flate.Writers live in a
// sync.Pool, so a connection holds one only while compressing a message.
type Compressor struct {
	level int
	pool  sync.Pool
	last  lastMessage
}

// lastMessage is the last message a Compressor compressed and its output.
// A broadcast sends one message to many connections; when their frames
// are not shared (the application loops over its connections calling
// send), each connection's encoder asks for the same message in turn, and
// the second and later get the bytes of the first: the output of a
// message compressed alone depends on nothing but its bytes, and it is
// compared in full, so a buffer reused for another message is not
// mistaken for the last one. Messages above lastMax are not kept.
type lastMessage struct {
	mu      sync.Mutex
	in, out []byte
}

const lastMax = 16 << 10

type pooledWriter struct {
	fw *flate.Writer
	s  sink
}

// NewCompressor returns a Compressor using a compress/flate level.
// flate.BestSpeed is the sensible choice for WebSocket traffic: it is several
// times cheaper per message than higher levels, whose Reset alone clears
// about 1 MiB of hash tables.
func NewCompressor(level int) (*Compressor, error) {
	if _, err := flate.NewWriter(io.Discard, level); err != nil {
		return nil, fmt.Errorf("wsdeflate: compressor: %w", err)
	}
	c := &Compressor{level: level}
	c.pool.New = func() any {
		pw := &pooledWriter{}
		// The level was validated above.
		pw.fw, _ = flate.NewWriter(&pw.s, level)
		return pw
	}
	return c, nil
}

// Compress appends the compressed form of msg to dst, without the trailing
// 0x00 0x00 0xff 0xff (RFC 7692 §7.2.1), and returns the extended slice. The
// result is the payload of a frame with RSV1 set. Each message is compressed
// independently, so any permessage-deflate receiver can inflate it.
func (c *Compressor) Compress(dst, msg []byte) []byte {
	keep := len(msg) <= lastMax
	if keep {
		if out, ok := c.last.get(dst, msg); ok {
			return out
		}
	}
	pw := c.pool.Get().(*pooledWriter)
	pw.fw.Reset(&pw.s)
	out := deflate(pw.fw, &pw.s, dst, msg)
	c.pool.Put(pw)
	if keep {
		c.last.put(msg, out[len(dst):])
	}
	return out
}

// get appends the output of msg to dst when msg is the last message.
func (m *lastMessage) get(dst, msg []byte) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil || !bytes.Equal(m.in, msg) {
		return dst, false
	}
	return append(dst, m.out...), true
}

func (m *lastMessage) put(msg, out []byte) {
	m.mu.Lock()
	m.in = append(m.in[:0], msg...)
	m.out = append(m.out[:0], out...)
	m.mu.Unlock()
}

// Decompressor inflates messages. It is safe for concurrent use and meant to
// be shared by all connections of a process: its inflaters live in a
// sync.Pool.
type Decompressor struct {
	pool sync.Pool
}

type pooledReader struct {
	fr    io.ReadCloser
	src   source
	probe [1]byte
}

// NewDecompressor returns an empty Decompressor.
func NewDecompressor() *Decompressor {
	d := &Decompressor{}
	d.pool.New = func() any {
		pr := &pooledReader{}
		pr.fr = flate.NewReader(&pr.src)
		return pr
	}
	return d
}

// source reads a message followed by inflateTail without copying either.
// It implements io.ByteReader so flate does not wrap it in a bufio.Reader.
type source struct {
	msg  []byte
	tail []byte
}

func (s *source) Read(p []byte) (int, error) {
	if len(s.msg) > 0 {
		n := copy(p, s.msg)
		s.msg = s.msg[n:]
		return n, nil
	}
	if len(s.tail) > 0 {
		n := copy(p, s.tail)
		s.tail = s.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (s *source) ReadByte() (byte, error) {
	if len(s.msg) > 0 {
		b := s.msg[0]
		s.msg = s.msg[1:]
		return b, nil
	}
	if len(s.tail) > 0 {
		b := s.tail[0]
		s.tail = s.tail[1:]
		return b, nil
	}
	return 0, io.EOF
}

// Decompress appends the inflated form of msg (a message payload without its
// sync tail, RFC 7692 §7.2.2) to dst and returns the extended slice. When the
// output would exceed limit bytes it stops at the (limit+1)th byte and returns
// the first limit bytes with an error wrapping ErrTooLarge; dst never grows
// past len(dst)+limit, so a zip bomb costs at most the limit (about twice
// that in allocations while growing, nothing when dst has the room). Each message is inflated independently
// (the sender negotiated no context takeover).
func (d *Decompressor) Decompress(dst, msg []byte, limit int) ([]byte, error) {
	return d.inflate(dst, msg, nil, limit)
}

func (d *Decompressor) inflate(dst, msg, dict []byte, limit int) ([]byte, error) {
	pr := d.pool.Get().(*pooledReader)
	defer d.pool.Put(pr)
	pr.src = source{msg: msg, tail: inflateTail}
	if err := pr.fr.(flate.Resetter).Reset(&pr.src, dict); err != nil {
		return dst, fmt.Errorf("wsdeflate: reset inflater: %w", err)
	}
	out, err := readLimited(pr.fr, dst, limit, &pr.probe)
	pr.src = source{}
	return out, err
}

// readLimited appends r's output to dst, growing it geometrically but never
// past len(dst)+limit. Whether more than limit bytes would come is found out
// by reading a single byte into probe, so the (limit+1)th byte never needs
// room in dst.
func readLimited(r io.Reader, dst []byte, limit int, probe *[1]byte) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	base := len(dst)
	maxCap := base + limit
	for {
		var n int
		var err error
		if len(dst) == maxCap {
			n, err = r.Read(probe[:])
			if n > 0 {
				return dst, fmt.Errorf("wsdeflate: more than %d bytes: %w", limit, ErrTooLarge)
			}
		} else {
			if len(dst) == cap(dst) {
				newCap := 2 * cap(dst)
				if newCap < len(dst)+512 {
					newCap = len(dst) + 512
				}
				if newCap > maxCap {
					newCap = maxCap
				}
				grown := make([]byte, len(dst), newCap)
				copy(grown, dst)
				dst = grown
			}
			n, err = r.Read(dst[len(dst):min(cap(dst), maxCap)])
			dst = dst[:len(dst)+n]
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("wsdeflate: inflate: %w", err)
		}
	}
}

// StreamCompressor compresses one connection's outgoing messages with
// context takeover: its flate.Writer keeps the LZ77 window across messages,
// so repeated content shrinks to back-references. It is the state RFC 7692
// §7.2.1 describes and costs one flate.Writer per connection for as long as
// the connection lives (see TestMemoryFigures). Not safe for concurrent use.
type StreamCompressor struct {
	fw *flate.Writer
	s  sink
}

// NewStreamCompressor returns a StreamCompressor with a compress/flate level.
func NewStreamCompressor(level int) (*StreamCompressor, error) {
	sc := &StreamCompressor{}
	fw, err := flate.NewWriter(&sc.s, level)
	if err != nil {
		return nil, fmt.Errorf("wsdeflate: stream compressor: %w", err)
	}
	sc.fw = fw
	return sc, nil
}

// Compress is Compressor.Compress, except that the output may refer to
// earlier messages of this stream, so the peer must inflate them in order
// with a StreamDecompressor-like context.
func (sc *StreamCompressor) Compress(dst, msg []byte) []byte {
	return deflate(sc.fw, &sc.s, dst, msg)
}

// StreamDecompressor inflates one connection's incoming messages when the
// peer uses context takeover. It keeps only the last 32 KiB of inflated
// output (the most a back-reference can reach) and borrows a pooled inflater
// from its Decompressor per message, so its cost is that window. Not safe for
// concurrent use.
type StreamDecompressor struct {
	d    *Decompressor
	hist []byte
}

// NewStreamDecompressor returns a StreamDecompressor borrowing inflaters
// from d.
func NewStreamDecompressor(d *Decompressor) *StreamDecompressor {
	return &StreamDecompressor{d: d}
}

// Decompress is Decompressor.Decompress with the previous messages' window
// as the preset dictionary. After an error the stream is out of sync with the
// peer and the connection must be closed.
func (sd *StreamDecompressor) Decompress(dst, msg []byte, limit int) ([]byte, error) {
	base := len(dst)
	out, err := sd.d.inflate(dst, msg, sd.hist, limit)
	if err != nil {
		return out, err
	}
	sd.remember(out[base:])
	return out, nil
}

// remember appends p to the window, keeping its last windowSize bytes.
func (sd *StreamDecompressor) remember(p []byte) {
	if sd.hist == nil {
		sd.hist = make([]byte, 0, windowSize)
	}
	if len(p) >= windowSize {
		sd.hist = append(sd.hist[:0], p[len(p)-windowSize:]...)
		return
	}
	if over := len(sd.hist) + len(p) - windowSize; over > 0 {
		n := copy(sd.hist, sd.hist[over:])
		sd.hist = sd.hist[:n]
	}
	sd.hist = append(sd.hist, p...)
}
