package netloop

import "os"

// encodeMark is where the loop's nested-output buffers stood when a
// connection's codec first wrote through the Conn during an Encode. Encodes
// nest only through callbacks, strictly, and each one truncates the buffers
// back to its mark when it ends, so the buffers are a stack and so are the
// marks (Loop.nestMarks).
type encodeMark struct {
	conn       *Conn
	raw, files int
}

// nestedFile is a WriteFile made during its connection's Encode; at is its
// place in Loop.nested.
type nestedFile struct {
	f           *os.File
	off, length int64
	at          int
}

// nest prepares c, whose Encode is running, to hold output aside.
func (c *Conn) nest() {
	if c.flags&flagNested != 0 {
		return
	}
	l := c.loop
	l.nestMarks = append(l.nestMarks, encodeMark{conn: c, raw: len(l.nested), files: len(l.nestedFiles)})
	c.flags |= flagNested
}

// afterEncode sends what the codec wrote through the Conn during Encode,
// after the encoded bytes, then carries out a Close it asked for meanwhile.
func (c *Conn) afterEncode() {
	l := c.loop
	if c.flags&flagNested != 0 {
		c.flags &^= flagNested
		// The top mark is c's, unless a panic recovered inside this
		// Encode dropped the nested output.
		if n := len(l.nestMarks); n > 0 && l.nestMarks[n-1].conn == c {
			m := l.nestMarks[n-1]
			l.nestMarks[n-1] = encodeMark{}
			l.nestMarks = l.nestMarks[:n-1]
			c.writeNested(m)
		}
	}
	if c.flags&flagCloseQueued != 0 {
		c.flags &^= flagCloseQueued
		c.closeNow()
	}
}

func (c *Conn) writeNested(m encodeMark) {
	l := c.loop
	var raw []byte
	if len(l.nested) > m.raw {
		raw = l.nested[m.raw:]
	}
	var files []nestedFile
	if len(l.nestedFiles) > m.files {
		files = l.nestedFiles[m.files:]
	}
	// raw and files stay valid if a callback below nests more output: that
	// is appended past them, and truncated back before we truncate.
	pos := 0
	for _, nf := range files {
		c.writeAccepted(raw[pos : nf.at-m.raw])
		pos = nf.at - m.raw
		c.queueFile(nf.f, nf.off, nf.length)
	}
	c.writeAccepted(raw[pos:])
	clear(files)
	l.nestedFiles = l.nestedFiles[:m.files]
	l.nested = l.nested[:m.raw]
	if m.raw == 0 && cap(l.nested) > 4*corkLimit {
		l.nested = nil
	}
	if c.status != StatusClosed {
		c.checkFull()
	}
}

// writeAccepted sends bytes already accepted (reported true or Sent): into
// the cork while c's input is processed, else to the socket.
func (c *Conn) writeAccepted(b []byte) {
	if len(b) == 0 || c.status == StatusClosed {
		return
	}
	l := c.loop
	if l.corkConn == c && c.out.empty() {
		l.cork = append(l.cork, b...)
		if len(l.cork) >= corkLimit {
			c.flushCork()
		}
		return
	}
	c.writeQuiet(b)
}

// dropNested forgets output nested in an Encode that panicked.
func (l *Loop) dropNested() {
	l.encConn = nil
	clear(l.nestMarks)
	l.nestMarks = l.nestMarks[:0]
	for _, nf := range l.nestedFiles {
		_ = nf.f.Close()
	}
	clear(l.nestedFiles)
	l.nestedFiles = l.nestedFiles[:0]
	l.nested = l.nested[:0]
}
