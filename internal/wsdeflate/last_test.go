package wsdeflate

import (
	"bytes"
	"compress/flate"
	"testing"
)

// A broadcast looping over its connections compresses one message for
// each: the second and later get the first's bytes without compressing,
// and a buffer reused for another message of the same length is compressed
// anew, never given the last message's output.
func TestCompressReusesTheLastMessage(t *testing.T) {
	c, err := NewCompressor(flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecompressor()
	buf := bytes.Repeat([]byte("the same message, "), 20)
	first := c.Compress(nil, buf)
	if again := c.Compress([]byte("head"), buf); !bytes.Equal(again, append([]byte("head"), first...)) {
		t.Fatal("the same message compressed to other bytes")
	}
	if allocs := testing.AllocsPerRun(50, func() { _ = c.Compress(first[:0:len(first)], buf) }); allocs != 0 && !raceEnabled {
		t.Errorf("a repeated message costs %.1f allocations, want 0", allocs)
	}
	copy(buf, "another message!! ")
	out, err := d.Decompress(nil, c.Compress(nil, buf), 1<<20)
	if err != nil || !bytes.Equal(out, buf) {
		t.Fatalf("the reused buffer inflated to %.30q, %v", out, err)
	}
}
