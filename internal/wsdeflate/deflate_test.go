package wsdeflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

func newPair(t testing.TB) (*Compressor, *Decompressor) {
	t.Helper()
	c, err := NewCompressor(flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	return c, NewDecompressor()
}

// textish returns compressible bytes resembling JSON chat traffic.
func textish(r *rand.Rand, n int) []byte {
	words := []string{`{"type":"msg",`, `"user":"alice",`, `"text":"hello world"`, `}`, " ", "\n", "lorem", "ipsum"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func randomBytes(r *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func testMessages() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	return [][]byte{
		{},
		{'x'},
		textish(r, 64),
		textish(r, 64), // repeats vocabulary of the previous one: back-references across messages
		randomBytes(r, 64<<10),
		textish(r, 1<<20),
		bytes.Repeat([]byte("ab"), 40000),
		{0},
	}
}

// rawInflate decodes a whole permessage-deflate stream with a single plain
// flate reader, the model of RFC 7692 §7.2: the messages with their sync
// tails put back, concatenated.
func rawInflate(t *testing.T, payloads [][]byte) []byte {
	t.Helper()
	var stream bytes.Buffer
	for _, p := range payloads {
		stream.Write(p)
		stream.Write(syncTail)
	}
	stream.Write([]byte{0x01, 0x00, 0x00, 0xff, 0xff})
	out, err := io.ReadAll(flate.NewReader(&stream))
	if err != nil {
		t.Fatalf("raw flate reader: %v", err)
	}
	return out
}

func TestRoundTripNoContextTakeover(t *testing.T) {
	c, d := newPair(t)
	for _, msg := range testMessages() {
		comp := c.Compress(nil, msg)
		got, err := d.Decompress(nil, comp, len(msg))
		if err != nil {
			t.Fatalf("%d-byte message: %v", len(msg), err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d-byte message came back as %d bytes", len(msg), len(got))
		}
		// Each message stands alone for any inflater.
		if raw := rawInflate(t, [][]byte{comp}); !bytes.Equal(raw, msg) {
			t.Fatalf("%d-byte message: plain flate reader disagrees", len(msg))
		}
		// dst is appended to, not overwritten.
		prefixed, err := d.Decompress([]byte("pre"), comp, len(msg))
		if err != nil || !bytes.Equal(prefixed, append([]byte("pre"), msg...)) {
			t.Fatalf("%d-byte message with prefix: %v", len(msg), err)
		}
		if cp := c.Compress([]byte("pre"), msg); !bytes.Equal(cp, append([]byte("pre"), comp...)) {
			t.Fatalf("%d-byte message: Compress with a prefix differs", len(msg))
		}
	}
	if comp := c.Compress(nil, testMessages()[5]); len(comp) > 1<<19 {
		t.Fatalf("1 MiB of text compressed to %d bytes only", len(comp))
	}
}

func TestRoundTripContextTakeover(t *testing.T) {
	sc, err := NewStreamCompressor(flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	sd := NewStreamDecompressor(NewDecompressor())
	msgs := testMessages()
	msgs = append(msgs, msgs...) // the second pass is all back-references
	var payloads [][]byte
	var want []byte
	for i, msg := range msgs {
		comp := sc.Compress(nil, msg)
		payloads = append(payloads, comp)
		want = append(want, msg...)
		got, err := sd.Decompress(nil, comp, len(msg))
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(msg), err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes) came back as %d bytes", i, len(msg), len(got))
		}
	}
	if !bytes.Equal(rawInflate(t, payloads), want) {
		t.Fatal("plain flate reader over the whole stream disagrees")
	}
	// A repeated small message costs a few bytes once the window holds it.
	// (compress/flate at BestSpeed looks for matches only in writes of 128
	// bytes or more.)
	m := bytes.Repeat([]byte(`{"type":"msg","user":"alice","text":"hello world"}`), 4)
	sc.Compress(nil, m)
	again := sc.Compress(nil, m)
	c, _ := newPair(t)
	if alone := c.Compress(nil, m); len(again) > len(alone)/2 {
		t.Fatalf("repeated message compressed to %d bytes, %d without context; want a back-reference", len(again), len(alone))
	}
	if got, err := sd.Decompress(nil, sc.Compress(nil, m), 100); err == nil {
		t.Fatalf("decompressor out of sync accepted %q", got)
	}
}

// The examples of RFC 7692 §7.2.3.
func TestRFCExamples(t *testing.T) {
	_, d := newPair(t)
	hello := []byte("Hello")
	fixed := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	stored := []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}
	for _, m := range [][]byte{fixed, stored} {
		got, err := d.Decompress(nil, m, 5)
		if err != nil || !bytes.Equal(got, hello) {
			t.Fatalf("Decompress(% x) = %q, %v", m, got, err)
		}
	}
	// §7.2.3.2: the second "Hello" refers back into the first message.
	second := []byte{0xf2, 0x00, 0x11, 0x00, 0x00}
	sd := NewStreamDecompressor(d)
	for i, m := range [][]byte{fixed, second} {
		got, err := sd.Decompress(nil, m, 5)
		if err != nil || !bytes.Equal(got, hello) {
			t.Fatalf("stream message %d: %q, %v", i, got, err)
		}
	}
	if got, err := d.Decompress(nil, second, 5); err == nil {
		t.Fatalf("without context, a back-reference into nothing inflated to %q", got)
	}
	// §7.2.3.6: an empty message is a single empty block.
	c, _ := newPair(t)
	if got := c.Compress(nil, nil); len(got) == 0 || len(got) > 2 {
		t.Fatalf("empty message compressed to % x", got)
	}
	if got, err := d.Decompress(nil, []byte{0x00}, 0); err != nil || len(got) != 0 {
		t.Fatalf("Decompress(00) = %q, %v", got, err)
	}
	// Our Compress output is what a plain flate writer flushes, minus the tail.
	var raw bytes.Buffer
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	fw.Write(hello)
	fw.Flush()
	if got := c.Compress(nil, hello); !bytes.Equal(append(got, syncTail...), raw.Bytes()) {
		t.Fatalf("Compress(Hello) = % x, flate flush = % x", got, raw.Bytes())
	}
}

func TestLimit(t *testing.T) {
	c, d := newPair(t)
	msg := bytes.Repeat([]byte("0123456789"), 1000)
	comp := c.Compress(nil, msg)
	if _, err := d.Decompress(nil, comp, len(msg)); err != nil {
		t.Fatalf("limit equal to the size: %v", err)
	}
	got, err := d.Decompress(nil, comp, len(msg)-1)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit one below the size: %v", err)
	}
	if len(got) != len(msg)-1 {
		t.Fatalf("returned %d bytes past a %d limit", len(got), len(msg)-1)
	}
	if _, err := d.Decompress(nil, []byte{0x00}, 0); err != nil {
		t.Fatalf("empty message with limit 0: %v", err)
	}
	if _, err := d.Decompress(nil, c.Compress(nil, []byte{1}), 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1 byte with limit 0: %v", err)
	}
	// The stream decompressor enforces the limit too.
	sd := NewStreamDecompressor(d)
	if _, err := sd.Decompress(nil, comp, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("stream: %v", err)
	}
}

func TestCorruptInput(t *testing.T) {
	_, d := newPair(t)
	for _, m := range [][]byte{
		{0xff},                   // reserved block type 11
		{0x00, 0x05, 0x00, 0x00}, // stored length and its complement disagree
		{0xf2, 0x48},             // truncated fixed block
	} {
		if got, err := d.Decompress(nil, m, 1<<20); err == nil {
			t.Fatalf("Decompress(% x) = %q, want an error", m, got)
		}
	}
}

func TestZipBomb(t *testing.T) {
	c, d := newPair(t)
	bomb := c.Compress(nil, make([]byte, 10<<20))
	t.Logf("10 MiB of zeros compress to %d bytes", len(bomb))
	const limit = 1 << 20
	d.Decompress(nil, c.Compress(nil, []byte("warm the pool")), limit)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := d.Decompress(nil, bomb, limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	if cap(out) > limit {
		t.Fatalf("output buffer grew to %d bytes, limit %d", cap(out), limit)
	}
	// Doubling growth copies at most about one extra limit's worth.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("bomb with a 1 MiB limit allocated %d bytes", alloc)
	if alloc > 2*limit+64<<10 {
		t.Fatalf("bomb allocated %d bytes for a %d limit", alloc, limit)
	}
	// With room supplied by the caller, nothing is allocated at all.
	buf := make([]byte, 0, limit)
	if !raceEnabled {
		run := func() {
			if _, err := d.Decompress(buf[:0], bomb, limit); !errors.Is(err, ErrTooLarge) {
				t.Fatal(err)
			}
		}
		run()
		allocs := testing.AllocsPerRun(3, run)
		n := allocatedBy(run)
		t.Logf("bomb into a preallocated buffer: %v allocations, %d bytes", allocs, n)
		// Only compress/flate's Huffman overflow tables (see
		// TestPooledAllocations) and at most one inflater after the GC.
		if n > 64<<10 {
			t.Fatalf("bomb into a preallocated buffer allocated %d bytes", n)
		}
	}
}

// Pooling means steady-state messages allocate nothing when the caller
// reuses its buffers.
func TestPooledAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	c, d := newPair(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{64, 16 << 10} {
		msg := textish(r, n)
		cbuf := make([]byte, 0, 2*n+64)
		dbuf := make([]byte, 0, n)
		comp := c.Compress(nil, msg)
		if a := testing.AllocsPerRun(100, func() { c.Compress(cbuf[:0], msg) }); a != 0 {
			t.Errorf("Compress %d B: %v allocations", n, a)
		}
		// compress/flate's Reset drops the Huffman decoders' overflow
		// tables, so a dynamic block with long codes reallocates them: a
		// few small allocations, never the output or the window.
		a := testing.AllocsPerRun(100, func() { d.Decompress(dbuf[:0], comp, n) })
		bytesPer := allocatedBy(func() {
			for range 100 {
				d.Decompress(dbuf[:0], comp, n)
			}
		}) / 100
		t.Logf("Decompress %d B: %v allocations, %d bytes per message", n, a, bytesPer)
		if a > 16 || bytesPer > 4<<10 {
			t.Errorf("Decompress %d B: %v allocations, %d bytes per message", n, a, bytesPer)
		}
	}
}

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMemoryFigures backs the claim that idle connections must not hold a
// compressor: a flate.Writer is hundreds of KiB, a 32 KiB window is what
// inflating with context takeover needs.
func TestMemoryFigures(t *testing.T) {
	var sink any
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression} {
		n := allocatedBy(func() { sink, _ = flate.NewWriter(io.Discard, level) })
		t.Logf("flate.NewWriter(level %d): %d bytes", level, n)
		if n < 100<<10 {
			t.Errorf("flate.Writer at level %d is only %d bytes; revisit the pooling rationale", level, n)
		}
	}
	n := allocatedBy(func() { sink = flate.NewReader(bytes.NewReader(nil)) })
	t.Logf("flate.NewReader: %d bytes", n)
	_, d := newPair(t)
	c, _ := newPair(t)
	sd := NewStreamDecompressor(d)
	msg := textish(rand.New(rand.NewPCG(5, 6)), 100<<10)
	comp := c.Compress(nil, msg)
	sd.Decompress(nil, comp, len(msg))
	n = allocatedBy(func() {
		for range 10 {
			sd.Decompress(nil, comp, len(msg))
		}
	})
	t.Logf("StreamDecompressor, 100 KiB messages: %d bytes allocated per message, window %d bytes", n/10, cap(sd.hist))
	if cap(sd.hist) != windowSize {
		t.Errorf("stream window holds %d bytes, want %d", cap(sd.hist), windowSize)
	}
	_ = sink
}

func benchMsg(n int) []byte { return textish(rand.New(rand.NewPCG(7, 8)), n) }

func BenchmarkCompress(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"16KiB", 16 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := newPair(b)
			msg := benchMsg(bc.n)
			buf := make([]byte, 0, 2*bc.n+64)
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			for b.Loop() {
				c.Compress(buf[:0], msg)
			}
		})
		b.Run(bc.name+"/stream", func(b *testing.B) {
			sc, _ := NewStreamCompressor(flate.BestSpeed)
			msg := benchMsg(bc.n)
			buf := make([]byte, 0, 2*bc.n+64)
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			for b.Loop() {
				sc.Compress(buf[:0], msg)
			}
		})
	}
}

func BenchmarkDecompress(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"16KiB", 16 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			c, d := newPair(b)
			msg := benchMsg(bc.n)
			comp := c.Compress(nil, msg)
			buf := make([]byte, 0, bc.n+1)
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			for b.Loop() {
				if _, err := d.Decompress(buf[:0], comp, bc.n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/nobuf", func(b *testing.B) {
			c, d := newPair(b)
			msg := benchMsg(bc.n)
			comp := c.Compress(nil, msg)
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			for b.Loop() {
				if _, err := d.Decompress(nil, comp, bc.n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzDecompress(f *testing.F) {
	c, d := newPair(f)
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, uint16(5))
	f.Add([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, uint16(4))
	f.Add(c.Compress(nil, make([]byte, 5000)), uint16(1000))
	f.Add(c.Compress(nil, []byte("permessage-deflate")), uint16(100))
	f.Add([]byte{0xff}, uint16(10))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, msg []byte, limit16 uint16) {
		limit := int(limit16)
		got, err := d.Decompress(nil, msg, limit)
		if len(got) > limit || cap(got) > limit {
			t.Fatalf("%d bytes (cap %d) past limit %d", len(got), cap(got), limit)
		}
		// Differential check against a plain flate reader.
		src := append(append([]byte{}, msg...), inflateTail...)
		want, rerr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(src)), int64(limit)+1))
		switch {
		case rerr == nil && len(want) > limit:
			if !errors.Is(err, ErrTooLarge) || !bytes.Equal(got, want[:limit]) {
				t.Fatalf("over limit: got %v, %d bytes", err, len(got))
			}
		case rerr == nil:
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %q, %v; plain reader %q", got, err, want)
			}
		default:
			if err == nil {
				t.Fatalf("plain reader fails with %v, Decompress returned %q", rerr, got)
			}
		}
	})
}
