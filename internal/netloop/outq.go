package netloop

import (
	"os"
	"sync"
)

// chunkSize is the size of the pooled chunks that hold a connection's unsent
// output. 16 KiB keeps a small backlog in one chunk and a large one within a
// single writev (64 chunks for a 1 MiB buffer).
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// outQueue is a connection's backlog: pooled chunks of bytes, and file
// regions (WriteFile) between them, written in order. head is how much of the
// first chunk has been written already. size counts both kinds, so the send
// buffer limit covers files too.
type outQueue struct {
	chunks []*[]byte
	head   int
	size   int
	// files is nil unless a file region is queued, so a connection that
	// never sends files pays one pointer for them.
	files *fileQueue
}

// fileQueue holds the queued file regions in order. Each one is placed in the
// byte stream by gap: the memory bytes between the previous region (or the
// front of the queue, for the first) and it. Only the first gap shrinks as
// bytes are written, so placing costs nothing per write.
type fileQueue struct {
	segs []fileSeg
	tail int // memory bytes queued after the last region
}

// fileSeg is a region of a file still to send. The queue owns f.
type fileSeg struct {
	f    *os.File
	fd   int
	off  int64
	left int64
	gap  int
}

func (q *outQueue) empty() bool { return q.size == 0 }

func (q *outQueue) append(p []byte) {
	q.size += len(p)
	if q.files != nil {
		q.files.tail += len(p)
	}
	for len(p) > 0 {
		var last *[]byte
		if n := len(q.chunks); n > 0 {
			last = q.chunks[n-1]
		}
		if last == nil || len(*last) == cap(*last) {
			last = chunkPool.Get().(*[]byte)
			q.chunks = append(q.chunks, last)
		}
		n := copy((*last)[len(*last):cap(*last)], p)
		*last = (*last)[:len(*last)+n]
		p = p[n:]
	}
}

// prepend puts p before everything queued. A TLS file piece sealed from the
// due region goes there: its records precede the region's rest.
func (q *outQueue) prepend(p []byte) {
	if len(p) == 0 {
		return
	}
	q.size += len(p)
	if q.files != nil {
		if len(q.files.segs) > 0 {
			q.files.segs[0].gap += len(p)
		} else {
			q.files.tail += len(p)
		}
	}
	if q.head > 0 {
		// Drop the written part of the first chunk, so head can stay an
		// offset into the first chunk.
		first := q.chunks[0]
		*first = (*first)[:copy(*first, (*first)[q.head:])]
		q.head = 0
	}
	var front []*[]byte
	for len(p) > 0 {
		ch := chunkPool.Get().(*[]byte)
		n := copy((*ch)[:cap(*ch)], p)
		*ch = (*ch)[:n]
		p = p[n:]
		front = append(front, ch)
	}
	q.chunks = append(front, q.chunks...)
}

// takeFront removes the first n memory bytes, which come before any file
// region, appending them to dst.
func (q *outQueue) takeFront(dst []byte, n int) []byte {
	rem := n
	for i := 0; rem > 0; i++ {
		ch := *q.chunks[i]
		if i == 0 {
			ch = ch[q.head:]
		}
		m := min(len(ch), rem)
		dst = append(dst, ch[:m]...)
		rem -= m
	}
	q.consume(n)
	return dst
}

// appendFile queues n bytes of f from off after everything queued so far.
func (q *outQueue) appendFile(f *os.File, off, n int64) {
	if q.files == nil {
		q.files = &fileQueue{tail: q.size}
	}
	fq := q.files
	fq.segs = append(fq.segs, fileSeg{f: f, fd: int(f.Fd()), off: off, left: n, gap: fq.tail})
	fq.tail = 0
	q.size += int(n)
}

// memAhead is how many memory bytes can be written before the next file
// region (all of them when none is queued).
func (q *outQueue) memAhead() int {
	if q.files != nil && len(q.files.segs) > 0 {
		return q.files.segs[0].gap
	}
	return q.size
}

// dueFile is the file region to send now, or nil when memory bytes come
// first or no region is queued.
func (q *outQueue) dueFile() *fileSeg {
	if q.files == nil || len(q.files.segs) == 0 || q.files.segs[0].gap > 0 {
		return nil
	}
	return &q.files.segs[0]
}

// fileSent records n bytes of the due region as sent; a finished region is
// closed and dropped.
func (q *outQueue) fileSent(n int64) {
	fq := q.files
	s := &fq.segs[0]
	s.off += n
	s.left -= n
	q.size -= int(n)
	if s.left > 0 {
		return
	}
	_ = s.f.Close()
	fq.segs[0] = fileSeg{}
	fq.segs = fq.segs[1:]
	if len(fq.segs) == 0 {
		q.files = nil
	}
}

// consume drops n written memory bytes from the front, returning emptied
// chunks to the pool. n never goes past the next file region.
func (q *outQueue) consume(n int) {
	q.size -= n
	if q.files != nil && len(q.files.segs) > 0 {
		q.files.segs[0].gap -= n
	}
	for n > 0 {
		first := q.chunks[0]
		left := len(*first) - q.head
		if n < left {
			q.head += n
			return
		}
		n -= left
		q.head = 0
		*first = (*first)[:0]
		chunkPool.Put(first)
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
	}
	if len(q.chunks) == 0 {
		q.chunks = nil
	}
}

// release returns every chunk to the pool, closes the queued files and
// forgets the backlog.
func (q *outQueue) release() {
	for i, c := range q.chunks {
		*c = (*c)[:0]
		chunkPool.Put(c)
		q.chunks[i] = nil
	}
	if q.files != nil {
		for _, s := range q.files.segs {
			_ = s.f.Close()
		}
	}
	*q = outQueue{}
}
