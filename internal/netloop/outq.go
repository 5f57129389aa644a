package netloop

import "sync"

// chunkSize is the size of the pooled chunks that hold a connection's unsent
// output. 16 KiB keeps a small backlog in one chunk and a large one within a
// single writev (64 chunks for a 1 MiB buffer).
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// outQueue is a connection's backlog: pooled chunks, written in order. head
// is how much of the first chunk has been written already.
type outQueue struct {
	chunks []*[]byte
	head   int
	size   int
}

func (q *outQueue) empty() bool { return q.size == 0 }

func (q *outQueue) append(p []byte) {
	q.size += len(p)
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

// consume drops n written bytes from the front, returning emptied chunks to
// the pool.
func (q *outQueue) consume(n int) {
	q.size -= n
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

// release returns every chunk to the pool and forgets the backlog.
func (q *outQueue) release() {
	for i, c := range q.chunks {
		*c = (*c)[:0]
		chunkPool.Put(c)
		q.chunks[i] = nil
	}
	*q = outQueue{}
}
