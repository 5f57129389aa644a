package netloop

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

const (
	flagPaused uint8 = 1 << iota
	flagResumeQueued
	flagCounted     // included in Stats.Connections
	flagAdopted     // handed over by another process
	flagCloseQueued // Close was called during the connection's own Encode
	flagNested      // output was written during the connection's own Encode
	flagPaced       // the codec is a codec.Paced: full send buffers hold input instead of dropping sends
	flagHeld        // input is held until the send buffer drains (flagPaced)
)

// DefaultMaxSendBuffer is Workerman's default send buffer limit (1 MiB).
const DefaultMaxSendBuffer = 1 << 20

// Conn is one TCP connection on a loop. Its methods are loop-only unless the
// doc says otherwise. A Conn is a value inside the caller's own connection
// object (see Listener config NewConn), so a connection costs one allocation.
type Conn struct {
	loop    *Loop
	handler Handler
	codec   codec.Codec
	in      []byte // bytes of an incomplete packet
	out     outQueue
	remote  netip.AddrPort

	id           uint64
	bytesRead    uint64
	bytesWritten uint64
	maxSend      int
	maxPkg       int
	pending      int // length of the packet being awaited, from Input
	dialTimer    TimerID
	lastRead     int64        // loop clock of the last read, for idle timeouts
	ln           *Listener    // the listener that accepted it, nil for outbound
	linger       *lingerState // set by Linger: how the coming close goes

	fd     int
	gen    uint32
	events uint32
	status Status
	flags  uint8
	// backlogIdx is c's position in Loop.backlogged plus one, 0 when not
	// there. It fills what would be padding: the send timeout's state lives
	// in Loop.backlogged, so an idle connection pays nothing for it.
	backlogIdx int32
}

var _ codec.Conn = (*Conn)(nil)

// SetHandler sets the receiver of c's events; call it before c is handed to
// a loop.
func (c *Conn) SetHandler(h Handler) { c.handler = h }

// Handler returns c's event receiver.
func (c *Conn) Handler() Handler { return c.handler }

// ID is the connection's number, unique within its loop.
func (c *Conn) ID() uint64 { return c.id }

// Loop is the loop that owns c. Safe from any goroutine.
func (c *Conn) Loop() *Loop { return c.loop }

// Status is where c is in its life cycle.
func (c *Conn) Status() Status { return c.status }

// RemoteAddr is the peer's address (the target, for an outbound connection).
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// SetRemoteAddr replaces the address RemoteAddr reports, e.g. with the
// client address of a PROXY protocol header. Loop-only.
func (c *Conn) SetRemoteAddr(ap netip.AddrPort) { c.remote = ap }

// LocalAddr is the connection's local address, or the zero value once closed.
func (c *Conn) LocalAddr() netip.AddrPort {
	if c.fd < 0 {
		return netip.AddrPort{}
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return SockaddrToAddrPort(sa)
}

// MaxPackageSize is the largest packet c accepts.
func (c *Conn) MaxPackageSize() int { return c.maxPkg }

// SetMaxPackageSize changes c's packet limit.
func (c *Conn) SetMaxPackageSize(n int) {
	if n <= 0 {
		n = codec.DefaultMaxPackageSize
	}
	c.maxPkg = n
}

// MaxSendBuffer is the send buffer limit of c.
func (c *Conn) MaxSendBuffer() int { return c.maxSend }

// SetMaxSendBuffer changes c's send buffer limit.
func (c *Conn) SetMaxSendBuffer(n int) {
	if n <= 0 {
		n = DefaultMaxSendBuffer
	}
	c.maxSend = n
}

// BytesRead and BytesWritten count the bytes moved through the socket.
func (c *Conn) BytesRead() uint64    { return c.bytesRead }
func (c *Conn) BytesWritten() uint64 { return c.bytesWritten }

// SendQueueSize is the number of bytes waiting to be written.
func (c *Conn) SendQueueSize() int {
	n := c.out.size
	if c.loop != nil && c.loop.corkConn == c {
		n += len(c.loop.cork)
	}
	return n
}

// Unread is how many received bytes wait in the kernel, not read yet
// (SIOCINQ); 0 on error or once closed. It is a syscall: for rare checks
// such as deciding whether a connection is quiet enough to close.
func (c *Conn) Unread() int {
	if c.fd < 0 {
		return 0
	}
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

// IdleFor is how long ago c last received data (or was opened), as of the
// start of the current loop turn.
func (c *Conn) IdleFor() time.Duration { return time.Duration(c.loop.tick - c.lastRead) }

// RecvQueueSize is the number of received bytes not yet framed into a packet.
func (c *Conn) RecvQueueSize() int { return len(c.in) }

// Paused reports whether reading is paused.
func (c *Conn) Paused() bool { return c.flags&flagPaused != 0 }

// Codec is the connection's current codec.
func (c *Conn) Codec() codec.Codec { return c.codec }

// SetCodec switches c to another protocol: the bytes after the current packet
// go to cd.
func (c *Conn) SetCodec(cd codec.Codec) {
	c.codec = cd
	c.notePaced()
	c.pending = 0
	c.noteExpirer()
	if c.loop.corkConn != c && len(c.in) > 0 {
		c.queueResume()
	}
}

func (c *Conn) init(l *Loop, fd int, remote netip.AddrPort, cd codec.Codec) {
	c.loop = l
	c.fd = fd
	c.remote = remote
	c.codec = cd
	c.notePaced()
	if c.id == 0 {
		c.id = l.nextConnID()
	}
	if c.maxPkg <= 0 {
		c.maxPkg = codec.DefaultMaxPackageSize
	}
	if c.maxSend <= 0 {
		c.maxSend = DefaultMaxSendBuffer
	}
}

// notePaced records whether the codec asks for held input instead of
// dropped sends (codec.Paced).
func (c *Conn) notePaced() {
	if _, ok := c.codec.(codec.Paced); ok {
		c.flags |= flagPaced
	} else {
		c.flags &^= flagPaced
	}
}

// hold stops framing and reading input while a paced connection's send
// buffer is full: its peer is slowed by TCP, and what it already sent waits.
func (c *Conn) hold() {
	c.flags |= flagHeld
	c.modEvents(c.events &^ readEvents)
}

// releaseHeld resumes input held by hold once the send buffer is below its
// limit again.
func (c *Conn) releaseHeld() {
	if c.flags&flagHeld == 0 || c.bufferFull() {
		return
	}
	c.flags &^= flagHeld
	if c.status != StatusEstablished || c.flags&flagPaused != 0 {
		return
	}
	c.modEvents(c.events | readEvents)
	if len(c.in) > 0 {
		c.queueResume()
	}
}

func (c *Conn) handleEvents(ev uint32) {
	defer c.loop.recoverPanic(c, "connection")
	if c.status == StatusConnecting {
		c.finishConnect()
		return
	}
	if ev&unix.EPOLLOUT != 0 && !c.out.empty() {
		c.writable()
		if c.status == StatusClosed {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 && c.status == StatusEstablished && c.flags&(flagPaused|flagHeld) == 0 {
		c.readable(ev)
		return
	}
	if c.linger != nil && c.linger.active {
		c.lingerRead() // the read reports a hang-up or an error too
		return
	}
	if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.destroy()
	}
}

func (c *Conn) readable(ev uint32) {
	if c.flags&flagResumeQueued != 0 {
		// Input kept while paused comes before anything read now, the
		// peer's FIN included.
		c.processBuffered()
		if c.status != StatusEstablished || c.flags&flagPaused != 0 {
			return
		}
	}
	l := c.loop
	n, err := readRaw(c.fd, l.rbuf)
	if n <= 0 {
		switch {
		case n == 0 && err == nil:
			c.peerEOF()
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			l.log.Debug("read failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
			c.destroy()
		}
		return
	}
	c.bytesRead += uint64(n)
	c.lastRead = l.tick
	data := l.rbuf[:n]
	if poisonMessages {
		// Deliver from a private copy, so poisoned bytes stay poisoned
		// instead of turning into the next read's data.
		data = bytes.Clone(data)
	}
	if len(c.in) > 0 || l.MoveIdle != nil {
		c.in = append(c.in, data...)
		data = c.in
		if l.MoveIdle != nil && l.MoveIdle(c) {
			return // moved to another process with the bytes just read
		}
	}
	c.consume(data)
	// EPOLLRDHUP with a short read means the peer's FIN came after all of
	// this data: no need for another read to learn it. A connection paused
	// meanwhile (back-pressure) still holds input to deliver: it learns of
	// the FIN by reading again once resumed.
	if ev&unix.EPOLLRDHUP != 0 && n < len(l.rbuf) && c.status == StatusEstablished && c.flags&flagPaused == 0 {
		c.peerEOF()
	}
}

// processBuffered frames input kept while reading was paused or before a
// codec switch.
func (c *Conn) processBuffered() {
	if c.status != StatusEstablished || c.flags&(flagPaused|flagHeld) != 0 || len(c.in) == 0 {
		return
	}
	if l := c.loop; l.MoveIdle != nil && l.MoveIdle(c) {
		return
	}
	defer c.loop.recoverPanic(c, "connection")
	c.consume(c.in)
}

// consume frames and delivers the packets in data with output corked, then
// keeps the unconsumed tail and writes the corked output.
func (c *Conn) consume(data []byte) {
	l := c.loop
	l.corkConn = c
	used := c.process(data)
	l.corkConn = nil
	if c.status == StatusClosed {
		return
	}
	c.keep(data, used)
	c.flushCork()
	c.releaseHeld()
}

func (c *Conn) process(data []byte) int {
	l := c.loop
	off := 0
	for off < len(data) && c.status == StatusEstablished && c.flags&flagPaused == 0 {
		if c.flags&flagPaced != 0 && c.pending == 0 && c.bufferFull() {
			c.hold()
			return off
		}
		buf := data[off:]
		n := c.pending
		if n == 0 {
			var err error
			n, err = c.codec.Input(buf)
			switch {
			case err != nil:
				c.protocolError(err)
				return len(data)
			case n == 0:
				// Input held while the codec paused reading (a pipelined
				// request waiting for the response before it) is bounded by
				// the pause itself, not by the packet limit.
				if len(buf) >= c.maxPkg && c.flags&flagPaused == 0 {
					c.protocolError(codec.ErrPackageTooLarge)
					return len(data)
				}
				return off
			case n < 0:
				c.protocolError(errBadInputLength)
				return len(data)
			case n > c.maxPkg:
				c.protocolError(codec.ErrPackageTooLarge)
				return len(data)
			}
		}
		if n > len(buf) {
			c.pending = n
			return off
		}
		c.pending = 0
		pkt := buf[:n]
		off += n
		msg, err := c.codec.Decode(pkt)
		if err != nil {
			c.protocolError(err)
			return len(data)
		}
		if msg.Kind != codec.KindNone {
			l.stats.TotalRequest++
			c.handler.OnMessage(c, msg)
			if poisonMessages {
				poison(msg.Data)
			}
		}
	}
	return off
}

var errBadInputLength = errors.New("codec: Input returned a negative length")

func poison(b []byte) {
	for i := range b {
		b[i] = 0xDB
	}
}

// keep stores the unconsumed tail of data as c's inbound buffer.
func (c *Conn) keep(data []byte, used int) {
	rest := data[used:]
	if poisonMessages {
		// Never reuse a buffer whose delivered bytes were poisoned.
		c.in = nil
		if len(rest) > 0 {
			c.in = bytes.Clone(rest)
		}
		return
	}
	switch {
	case len(rest) == 0:
		if cap(c.in) > keptInboundCap {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case len(c.in) > 0 && unsafe.SliceData(data) == unsafe.SliceData(c.in):
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
}

func (c *Conn) protocolError(err error) {
	l := c.loop
	if errors.Is(err, codec.ErrClose) {
		c.closeNow()
		return
	}
	l.stats.ProtocolErrors++
	l.log.Debug("closing connection on malformed input", zap.Uint64("conn", c.id),
		zap.Stringer("remote", c.remote), zap.Error(err))
	c.closeNow()
}

// peerEOF handles the peer's FIN: output already produced is still written,
// then the connection closes.
func (c *Conn) peerEOF() {
	c.closeNow()
}

// Send encodes payload with the connection's codec and sends it. On the loop
// it reports Sent, Queued or Dropped; off the loop it copies payload, posts
// the send and reports Posted. Safe from any goroutine.
func (c *Conn) Send(payload []byte) SendResult {
	if !c.loop.OnLoop() {
		p := bytes.Clone(payload)
		c.loop.Post(func() { c.send(p) })
		return Posted
	}
	return c.send(payload)
}

// SendValue sends a structured value through a codec that implements
// codec.ValueEncoder. Off the loop it posts and reports Posted; v must not be
// changed afterwards. Safe from any goroutine.
func (c *Conn) SendValue(v any) (SendResult, error) {
	if !c.loop.OnLoop() {
		c.loop.Post(func() { _, _ = c.sendValue(v) })
		return Posted, nil
	}
	return c.sendValue(v)
}

func (c *Conn) send(payload []byte) SendResult {
	if c.status >= StatusClosing {
		return Dropped
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		return c.dropFull()
	}
	l := c.loop
	var res SendResult
	// Until the codec returns, what it writes through the Conn is held
	// aside: the encoder appends to the cork (or the scratch buffer), and a
	// write there would land in the middle of its output.
	prev := l.encConn
	l.encConn = c
	if l.corkConn == c && c.out.empty() {
		enc, err := c.codec.Encode(l.cork, payload)
		l.encConn = prev
		switch {
		case c.status == StatusClosed:
			l.cork = l.cork[:0] // destroyed while encoding: the cork held only its bytes
			res = Dropped
		case err != nil:
			res = c.encodeFailed(err)
		default:
			l.cork = enc
			res = c.corked()
		}
	} else {
		enc, err := c.codec.Encode(l.scratch[:0], payload)
		l.encConn = prev
		switch {
		case c.status == StatusClosed:
			res = Dropped
		case err != nil:
			res = c.encodeFailed(err)
		default:
			l.scratch = enc
			res = c.write(enc)
		}
	}
	if c.flags&(flagNested|flagCloseQueued) != 0 {
		c.afterEncode()
	}
	return res
}

func (c *Conn) sendValue(v any) (SendResult, error) {
	if c.status >= StatusClosing {
		return Dropped, nil
	}
	ve, ok := c.codec.(codec.ValueEncoder)
	if !ok {
		if b, isBytes := v.([]byte); isBytes {
			return c.send(b), nil
		}
		if s, isString := v.(string); isString {
			return c.send([]byte(s)), nil
		}
		return Dropped, errors.New("netloop: the connection's protocol cannot send structured values")
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		return c.dropFull(), nil
	}
	l := c.loop
	var res SendResult
	var err error
	prev := l.encConn // see send
	l.encConn = c
	if l.corkConn == c && c.out.empty() {
		var enc []byte
		enc, err = ve.EncodeValue(l.cork, v)
		l.encConn = prev
		switch {
		case c.status == StatusClosed:
			l.cork = l.cork[:0]
			res = Dropped
		case err != nil:
			res = Dropped
		default:
			l.cork = enc
			res = c.corked()
		}
	} else {
		var enc []byte
		enc, err = ve.EncodeValue(l.scratch[:0], v)
		l.encConn = prev
		if err != nil || c.status == StatusClosed {
			res = Dropped
		} else {
			l.scratch = enc
			res = c.write(enc)
		}
	}
	if c.flags&(flagNested|flagCloseQueued) != 0 {
		c.afterEncode()
	}
	return res, err
}

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

// WriteRaw queues b without encoding it (codec.Conn). Loop-only.
func (c *Conn) WriteRaw(b []byte) bool {
	if c.status >= StatusClosing {
		return false
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		c.dropFull()
		return false
	}
	l := c.loop
	if l.encConn == c {
		if c.flags&flagCloseQueued != 0 {
			return false
		}
		c.nest()
		l.nested = append(l.nested, b...)
		return true
	}
	if l.corkConn == c && c.out.empty() {
		l.cork = append(l.cork, b...)
		c.corked()
		return true
	}
	return c.write(b) != Dropped
}

// WriteFile queues length bytes of f from offset after everything written
// so far, to be sent with sendfile(2) (codec.Conn). c owns f from now on: it
// is closed once sent, when c closes, or at once when the write is dropped
// (false: c is closing, or its send buffer is full). A file shorter than
// offset+length destroys c when its end is reached. Loop-only.
func (c *Conn) WriteFile(f *os.File, offset, length int64) bool {
	if f == nil {
		return false
	}
	if offset < 0 || length < 0 || c.status >= StatusClosing {
		_ = f.Close()
		return false
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		c.dropFull()
		_ = f.Close()
		return false
	}
	l := c.loop
	if l.encConn == c {
		if c.flags&flagCloseQueued != 0 {
			_ = f.Close()
			return false
		}
		c.nest()
		l.nestedFiles = append(l.nestedFiles, nestedFile{f: f, off: offset, length: length, at: len(l.nested)})
		return true
	}
	c.queueFile(f, offset, length)
	if c.status == StatusClosed {
		return false
	}
	c.checkFull()
	return true
}

// queueFile appends a file region to c's backlog, after the corked output,
// and starts sending it when nothing was queued ahead of it.
func (c *Conn) queueFile(f *os.File, off, length int64) {
	l := c.loop
	if length == 0 || c.status == StatusClosed {
		_ = f.Close()
		return
	}
	if l.corkConn == c {
		c.flushCork() // the corked bytes come first
		if c.status == StatusClosed {
			_ = f.Close()
			return
		}
	}
	idle := c.out.empty()
	c.out.appendFile(f, off, length)
	if idle && (c.status == StatusEstablished || c.status == StatusClosing) {
		if drained, alive := c.flushOut(); alive && !drained {
			c.setWriteInterest(true)
		}
	}
}

func (c *Conn) corked() SendResult {
	l := c.loop
	if len(l.cork) >= corkLimit {
		c.flushCork()
		if c.status == StatusClosed {
			return Dropped
		}
	}
	c.checkFull()
	return Sent
}

func (c *Conn) bufferFull() bool { return c.SendQueueSize() >= c.maxSend }

func (c *Conn) dropFull() SendResult {
	c.loop.stats.SendFail++
	c.handler.OnError(c, SendFail, ErrSendBufferFull)
	return Dropped
}

func (c *Conn) checkFull() {
	if c.SendQueueSize() >= c.maxSend {
		c.handler.OnBufferFull(c)
	}
}

func (c *Conn) encodeFailed(err error) SendResult {
	c.loop.stats.SendFail++
	c.handler.OnError(c, SendFail, err)
	return Dropped
}

// write sends b now when nothing is queued ahead of it, and queues what the
// socket does not take.
func (c *Conn) write(b []byte) SendResult {
	if c.status != StatusEstablished || !c.out.empty() {
		c.out.append(b)
		c.checkFull()
		return Queued
	}
	n, err := writeRaw(c.fd, b)
	if n > 0 {
		c.bytesWritten += uint64(n)
	} else {
		n = 0
	}
	if n == len(b) {
		return Sent
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.loop.stats.SendFail++
		c.handler.OnError(c, SendFail, ErrPeerClosed)
		c.destroy()
		return Dropped
	}
	c.out.append(b[n:])
	c.setWriteInterest(true)
	c.checkFull()
	return Queued
}

// flushCork writes the output corked for c during input processing.
func (c *Conn) flushCork() {
	l := c.loop
	if len(l.cork) == 0 {
		return
	}
	b := l.cork
	l.cork = l.cork[:0]
	if c.status == StatusClosed {
		return
	}
	c.writeQuiet(b)
	if cap(l.cork) > 4*corkLimit {
		l.cork = nil
	}
}

// writeQuiet is write for output already accepted as Sent: a failure closes
// the connection without another OnError.
func (c *Conn) writeQuiet(b []byte) {
	if !c.out.empty() || c.status != StatusEstablished && c.status != StatusClosing {
		c.out.append(b)
		return
	}
	n, err := writeRaw(c.fd, b)
	if n > 0 {
		c.bytesWritten += uint64(n)
	} else {
		n = 0
	}
	if n == len(b) {
		return
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.loop.stats.SendFail++
		c.destroy()
		return
	}
	c.out.append(b[n:])
	c.setWriteInterest(true)
}

// writable writes the backlog after EPOLLOUT.
func (c *Conn) writable() {
	drained, alive := c.flushOut()
	if !alive {
		return
	}
	c.releaseHeld()
	if !drained {
		return
	}
	c.setWriteInterest(false)
	c.handler.OnBufferDrain(c)
	if c.status == StatusClosing && c.out.empty() {
		c.finishClose()
	}
}

const (
	// sendfileTurn caps the file bytes one connection sends per loop turn:
	// to a fast peer sendfile keeps succeeding, and a large file would hold
	// the loop from every other connection. What is left goes on the next
	// EPOLLOUT (nginx's sendfile_max_chunk is the same idea, at 2m).
	sendfileTurn = 2 << 20
)

// flushOut writes the backlog, bytes with writev and file regions with
// sendfile, in order, until it is empty or the socket is full. alive is false
// when a failure destroyed c; drained is false when output is left.
func (c *Conn) flushOut() (drained, alive bool) {
	l := c.loop
	budget := sendfileTurn
	for !c.out.empty() {
		if seg := c.out.dueFile(); seg != nil {
			if budget <= 0 {
				return false, true
			}
			left := seg.left
			count := int(min(left, int64(budget)))
			off := seg.off
			// sendfile may read the file from disk, so it goes through
			// the scheduler-aware syscall path, unlike read/write/writev.
			n, err := unix.Sendfile(c.fd, seg.fd, &off, count)
			if n > 0 {
				c.bytesWritten += uint64(n)
				c.progressed()
				budget -= n
				c.out.fileSent(int64(n))
			}
			switch {
			case err == nil && n == 0:
				// The file ended before the region did. The peer has part
				// of a message and no way to tell: end the connection.
				l.stats.SendFail++
				l.log.Debug("file shorter than the region queued; closing connection",
					zap.Uint64("conn", c.id), zap.Int64("missing", left))
				c.destroy()
				return false, false
			case err == nil:
			case errors.Is(err, unix.EAGAIN):
				return false, true
			case errors.Is(err, unix.EINTR):
			default:
				l.stats.SendFail++
				l.log.Debug("sendfile failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
				c.destroy()
				return false, false
			}
			continue
		}
		want := c.out.memAhead()
		iov := l.iovecs[:0]
		total := 0
		for i, ch := range c.out.chunks {
			if i == maxIovecs || total == want {
				break
			}
			b := *ch
			if i == 0 {
				b = b[c.out.head:]
			}
			if len(b) > want-total {
				b = b[:want-total]
			}
			iov = append(iov, b)
			total += len(b)
		}
		n, err := l.writev(c.fd, iov)
		clear(iov)
		l.iovecs = iov[:0]
		if n > 0 {
			c.bytesWritten += uint64(n)
			c.progressed()
			c.out.consume(n)
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return false, true
			}
			l.stats.SendFail++
			l.log.Debug("write failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
			c.destroy()
			return false, false
		}
		if n < total {
			return false, true // a short write: the socket is full
		}
	}
	return true, true
}

func (l *Loop) writev(fd int, bufs [][]byte) (int, error) {
	if len(bufs) == 1 {
		return writeRaw(fd, bufs[0])
	}
	n, iov, err := writevRaw(fd, bufs, l.iov)
	l.iov = iov
	return n, err
}

func (c *Conn) setWriteInterest(on bool) {
	ev := c.events &^ unix.EPOLLOUT
	if on {
		ev |= unix.EPOLLOUT
		c.watchBacklog()
	} else {
		c.unwatchBacklog()
	}
	c.modEvents(ev)
}

// sendCheckEvery is how often backlogged connections are checked against
// their send timeout: a stalled one closes at most that long after its
// deadline.
const sendCheckEvery = time.Second

// backlog is a connection whose output waits for EPOLLOUT, timed against
// its listener's SendTimeout (outbound connections have none).
type backlog struct {
	c        *Conn
	progress int64 // loop clock of the last write that took bytes, or of the start
	timeout  int64
}

// watchBacklog starts timing c's backlog, which just began. Only
// backlogged connections are in Loop.backlogged, so the once-a-second
// check costs nothing for idle ones however many there are, and a write
// that makes progress costs one store.
func (c *Conn) watchBacklog() {
	if c.backlogIdx != 0 || c.ln == nil || c.ln.cfg.SendTimeout <= 0 {
		return
	}
	l := c.loop
	l.backlogged = append(l.backlogged, backlog{c: c, progress: l.tick, timeout: int64(c.ln.cfg.SendTimeout)})
	c.backlogIdx = int32(len(l.backlogged))
	if l.sendTimer == 0 {
		l.sendTimer = l.addTimer(sendCheckEvery, true, true, l.checkSendTimeouts)
	}
}

// progressed records that the socket took some of c's backlog.
func (c *Conn) progressed() {
	if c.backlogIdx != 0 {
		c.loop.backlogged[c.backlogIdx-1].progress = c.loop.tick
	}
}

// unwatchBacklog forgets c's backlog: it drained, or c closed.
func (c *Conn) unwatchBacklog() {
	i := int(c.backlogIdx) - 1
	if i < 0 {
		return
	}
	l := c.loop
	last := len(l.backlogged) - 1
	if i != last {
		l.backlogged[i] = l.backlogged[last]
		l.backlogged[i].c.backlogIdx = int32(i + 1)
	}
	l.backlogged[last] = backlog{}
	l.backlogged = l.backlogged[:last]
	c.backlogIdx = 0
}

// checkSendTimeouts destroys the backlogged connections whose output made
// no progress for their send timeout: a peer that stopped reading would
// otherwise hold its descriptor, its queued output and a max_connections
// slot for ever. Nothing more can be sent to it, so it is not flushed. The
// timer stops once no connection is backlogged.
func (l *Loop) checkSendTimeouts() {
	now := l.now()
	for i := 0; i < len(l.backlogged); {
		b := l.backlogged[i]
		if now-b.progress < b.timeout {
			i++
			continue
		}
		c := b.c
		l.stats.SendTimeouts++
		l.log.Debug("send timed out; closing connection", zap.Uint64("conn", c.id),
			zap.Stringer("remote", c.remote), zap.Int("queued", c.out.size),
			zap.Duration("send_timeout", time.Duration(b.timeout)))
		c.destroy() // unwatches c, moving another connection to i
	}
	if len(l.backlogged) == 0 && l.sendTimer != 0 {
		l.DelTimer(l.sendTimer)
		l.sendTimer = 0
	}
}

func (c *Conn) modEvents(ev uint32) {
	if ev == c.events || c.fd < 0 {
		return
	}
	if err := c.loop.ctl(unix.EPOLL_CTL_MOD, c.fd, ev, c.gen); err != nil {
		c.loop.log.Warn("cannot change connection events", zap.Uint64("conn", c.id), zap.Error(err))
		return
	}
	c.events = ev
}

const readEvents = unix.EPOLLIN | unix.EPOLLRDHUP

// PauseRecv stops reading from c until ResumeRecv; the peer is slowed down by
// TCP flow control. Loop-only.
func (c *Conn) PauseRecv() {
	c.flags |= flagPaused
	c.modEvents(c.events &^ readEvents)
}

// ResumeRecv resumes reading, and processes input buffered meanwhile at the
// end of the current loop turn. Loop-only.
func (c *Conn) ResumeRecv() {
	if c.flags&flagPaused == 0 || c.status >= StatusClosing {
		return
	}
	c.flags &^= flagPaused
	if c.flags&flagHeld != 0 {
		return // releaseHeld resumes once the send buffer drains
	}
	if c.status == StatusEstablished {
		c.modEvents(c.events | readEvents)
	}
	if len(c.in) > 0 {
		c.queueResume()
	}
}

func (c *Conn) queueResume() {
	if c.flags&flagResumeQueued == 0 {
		c.flags |= flagResumeQueued
		c.loop.resumed = append(c.loop.resumed, c)
	}
}

// Close writes what is queued, then closes c (lingering first when Linger
// was called). Input arriving meanwhile is ignored. Called from c's codec
// while it encodes, it takes effect once the encoded bytes are queued. Safe
// from any goroutine: off the loop it posts the close.
func (c *Conn) Close() {
	if !c.loop.OnLoop() {
		c.loop.Post(c.closeNow)
		return
	}
	c.closeNow()
}

func (c *Conn) closeNow() {
	switch c.status {
	case StatusInitial, StatusConnecting:
		c.destroy()
		return
	case StatusClosing, StatusClosed:
		return
	}
	if c.loop.encConn == c {
		// c's Encode is running: the bytes it produces go out first, then
		// afterEncode closes.
		c.flags |= flagCloseQueued
		return
	}
	c.status = StatusClosing
	if c.loop.corkConn == c {
		c.flushCork()
		if c.status == StatusClosed {
			return
		}
	}
	c.flags |= flagPaused
	c.modEvents(c.events &^ readEvents)
	if c.out.empty() {
		c.finishClose()
	}
}

// finishClose ends a closing connection whose output is all written: at
// once, or after lingering (Linger).
func (c *Conn) finishClose() {
	if c.linger != nil && !c.linger.active && c.fd >= 0 {
		c.startLinger()
		return
	}
	c.destroy()
}

// Destroy closes c at once, dropping queued output. Safe from any goroutine:
// off the loop it posts the destroy.
func (c *Conn) Destroy() {
	if !c.loop.OnLoop() {
		c.loop.Post(c.destroy)
		return
	}
	c.destroy()
}

// destroy closes the socket, forgets the connection and runs OnClose exactly
// once. Bookkeeping is done before OnClose so a panic there leaks nothing.
func (c *Conn) destroy() {
	if c.status == StatusClosed {
		return
	}
	l := c.loop
	if c.dialTimer != 0 {
		l.DelTimer(c.dialTimer)
		c.dialTimer = 0
	}
	if c.linger != nil && c.linger.timer != 0 {
		l.DelTimer(c.linger.timer)
		c.linger.timer = 0
	}
	if fd := c.unregister(); fd >= 0 {
		_ = unix.Close(fd)
	}
	cd := c.codec
	c.notifyClose()
	if cl, ok := cd.(codec.Closer); ok {
		cl.Close()
	}
}

// unregister forgets c in the loop and marks it closed, leaving its socket
// open: the fd (or -1) is returned for the caller to close or hand over.
func (c *Conn) unregister() int {
	l := c.loop
	fd := c.fd
	if fd >= 0 {
		if fd < len(l.conns) && l.conns[fd] == c {
			l.conns[fd] = nil
		}
		// Explicit removal: a copy of the socket in another process (a
		// hand-over) would keep it in this epoll set after close.
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		c.fd = -1
	}
	c.status = StatusClosed
	if c.ln != nil {
		c.ln.live--
		c.ln = nil
	}
	if c.flags&flagCounted != 0 {
		l.stats.Connections--
	}
	// flagNested survives: an Encode running now still has to pop its
	// mark, and its held output is dropped then (files closed).
	c.flags &= flagNested
	c.events = 0
	c.unwatchBacklog()
	if l.corkConn == c {
		l.cork = l.cork[:0]
	}
	c.out.release()
	c.in = nil
	c.pending = 0
	return fd
}

func (c *Conn) notifyClose() {
	defer c.loop.recoverPanic(nil, "OnClose")
	c.handler.OnClose(c)
}

// ErrNotMovable reports a connection that cannot be handed over now: its
// codec does not opt in (codec.Migrator), it is mid-request, or output is
// still queued.
var ErrNotMovable = errors.New("netloop: connection cannot be handed over now")

// Handover is what moves with a connection to another process.
type Handover struct {
	FD      int    // the socket, owned by the receiver of the Handover
	Pending []byte // bytes read but not framed yet
	State   []byte // the codec's state (codec.Migrator)
}

// Detach takes c out of the loop without closing its socket and without
// OnClose, for another process to adopt it. Only an established, idle
// connection whose codec is a codec.Migrator moves. Loop-only.
func (c *Conn) Detach() (Handover, error) {
	m, ok := c.codec.(codec.Migrator)
	if !ok || c.status != StatusEstablished || !c.out.empty() || c.loop.corkConn == c || c.pending != 0 {
		return Handover{}, ErrNotMovable
	}
	state, ok := m.Migrate()
	if !ok {
		return Handover{}, ErrNotMovable
	}
	h := Handover{Pending: bytes.Clone(c.in), State: state}
	h.FD = c.unregister()
	if cl, ok := c.codec.(codec.Closer); ok {
		cl.Close()
	}
	return h, nil
}

// Adopted reports whether c came from another process (Listener.Adopt);
// handlers skip OnConnect for it.
func (c *Conn) Adopted() bool { return c.flags&flagAdopted != 0 }
