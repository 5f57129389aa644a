package netloop

import (
	"crypto/tls"
	"errors"
	"io"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// TLS server connections, with stock crypto/tls.
//
// crypto/tls cannot run its handshake step by step, so each connection's
// handshake runs in a short-lived goroutine over a tlsTransport that the loop
// feeds with what it reads from the socket; the goroutine's own writes are
// posted to the loop, which alone touches the socket. The goroutine starts
// only once the client's first record is complete (a client that connects
// and says nothing costs no goroutine), and at most Config.MaxTLSHandshakes
// run at once per loop; the others wait their turn with their input
// buffered. The handshake's CPU is never spent on the loop goroutine.
//
// Once the handshake is done the loop drives the same tls.Conn with no
// goroutine. Reading: the ciphertext the loop read is lent to the transport
// and tls.Conn.Read is called until the transport reports a temporary error
// (errWouldBlock), which crypto/tls's record layer tolerates, keeping a
// partial record buffered for the next read (tls_behaviour_test.go holds
// that promise). Writing: output is corked as plaintext as on plain TCP and
// sealed with one tls.Conn.Write per flush into the loop's tlsOut buffer,
// whose records then take the plain write path: the send queue, back-pressure,
// max_send_buffer_size, OnBufferFull/Drain and send_timeout all see
// ciphertext. File regions cannot go through sendfile: they are read and
// sealed tlsFileChunk bytes at a time as the socket drains (tlsSendFile).
//
// A TLS connection is opened for its handler (codec, OnOpen) only once its
// handshake succeeds; one that fails or times out is closed without OnOpen
// or OnClose, and counted.
//
// Memory: an idle connection keeps its tls.Conn (keys, record buffers) and
// a transport of a few words; what only the handshake needed goes at
// detach. The garbage a burst of handshakes leaves is given back to the
// kernel once the burst is over (tlsHandshakeDone), so that thousands of
// idle connections cost what they hold, not what their handshakes used.

// TLSServer makes a listener's connections TLS server connections.
type TLSServer struct {
	// Config is crypto/tls's server configuration: certificates, versions,
	// ALPN, client certificates. Required.
	Config *tls.Config
	// HandshakeTimeout closes a connection whose handshake has not finished
	// that long after accept (DefaultTLSHandshakeTimeout when 0).
	HandshakeTimeout time.Duration
}

const (
	// DefaultTLSHandshakeTimeout is the handshake_timeout default.
	DefaultTLSHandshakeTimeout = 10 * time.Second
	// DefaultMaxTLSHandshakes caps the handshakes in flight per loop. Each
	// holds a goroutine (8 KiB stack) and ~14 KiB of heap; a handshake
	// waiting on a slow client costs no CPU, so the cap is about memory and
	// a flood, not about cores.
	DefaultMaxTLSHandshakes = 256
	// tlsMaxHandshakeInput bounds what a client may send before its
	// handshake completes: far above any real hello and certificate chain.
	tlsMaxHandshakeInput = 256 << 10
	// tlsFileChunk is how much of a file region one step reads and seals.
	tlsFileChunk = 64 << 10
	// tlsRecordHandshake is the content type of a TLS handshake record, the
	// first byte any TLS client sends.
	tlsRecordHandshake = 0x16
	// tlsRecordHeader is the length of a TLS record header.
	tlsRecordHeader = 5
)

// tlsPlainAnswer is what a connection to a TLS port gets when its first
// byte is not a TLS record: almost always plain HTTP (http:// or ws://
// where https:// or wss:// was meant), which would otherwise see a cryptic
// failure.
var tlsPlainAnswer = "HTTP/1.1 400 Bad Request\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(tlsPlainBody)) + "\r\n\r\n" + tlsPlainBody

const tlsPlainBody = "This port speaks TLS: use https:// or wss:// instead of http:// or ws://.\n"

// tlsState is a TLS connection's state, hung off its Conn.
type tlsState struct {
	conn *tls.Conn
	tr   *tlsTransport
	srv  *TLSServer
	// started: the handshake goroutine was started (or the connection is
	// queued for one); up: the handshake succeeded and the loop drives
	// conn; opened: the handler saw OnOpen, so it must see OnClose.
	started, queued, up, opened bool
	// client: an outbound connection (DialTLS), configured by cfg, whose
	// handshake records not yet taken by the socket wait in hsOut
	// (tls_client_linux.go).
	client bool
	cfg    *tls.Config
	hsOut  []byte
	// notified: the close_notify alert was sealed (tlsCloseNotify).
	notified bool
}

// initTLS makes the just-accepted c a TLS connection waiting for its
// client's hello, with its handshake deadline.
func (c *Conn) initTLS(srv *TLSServer) {
	l := c.loop
	tr := newTLSTransport(l, c)
	st := &tlsState{tr: tr, srv: srv, conn: tls.Server(tr, srv.Config)}
	c.tls = st
	timeout := srv.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultTLSHandshakeTimeout
	}
	// dialTimer is free on an accepted connection; destroy cancels it.
	c.dialTimer = l.addInternalTimer(timeout, func() {
		c.dialTimer = 0
		if c.tls == st && !st.up && c.status != StatusClosed {
			l.stats.TLSHandshakeTimeouts++
			c.destroy()
		}
	})
}

// TLSConnectionState reports the connection's TLS parameters (version,
// cipher suite, server name, ALPN protocol, peer certificates); ok is false
// for a connection without TLS or before its handshake completed. Loop-only.
func (c *Conn) TLSConnectionState() (state tls.ConnectionState, ok bool) {
	if c.tls == nil || !c.tls.up {
		return tls.ConnectionState{}, false
	}
	return c.tls.conn.ConnectionState(), true
}

// IsTLS reports whether c is a TLS connection (handshaking or up).
func (c *Conn) IsTLS() bool { return c.tls != nil }

// tlsReadable handles input on a TLS connection: hello bytes before and
// during the handshake, records after it.
func (c *Conn) tlsReadable(ev uint32) {
	st := c.tls
	if st.up && !c.resumeBuffered() {
		return
	}
	l := c.loop
	n, err := readRaw(c.fd, l.rbuf)
	if n <= 0 {
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		case !st.up:
			// A client that connects and leaves before saying anything
			// (a port probe, a load balancer's health check) is no failed
			// handshake.
			if st.tr.fed > 0 {
				l.stats.TLSHandshakeErrors++
			}
			c.destroy()
		case n == 0 && err == nil:
			c.peerEOF()
		default:
			l.log.Debug("read failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
			c.destroy()
		}
		return
	}
	c.bytesRead += uint64(n)
	c.lastRead = l.tick
	if !st.up {
		c.tlsHello(l.rbuf[:n])
		return
	}
	plain, eof := c.tlsOpen(l.rbuf[:n])
	if c.status != StatusEstablished {
		return
	}
	if len(plain) > 0 {
		c.deliver(plain)
	}
	// The close_notify alert, or a FIN right after the data (see readable).
	if c.status == StatusEstablished && c.flags&flagPaused == 0 &&
		(eof || ev&unix.EPOLLRDHUP != 0 && n < len(l.rbuf)) {
		c.peerEOF()
	}
}

// tlsHello takes bytes that arrive before the handshake is done: the first
// one tells TLS from plain text, and the handshake starts once the first
// record is complete.
func (c *Conn) tlsHello(b []byte) {
	st, l := c.tls, c.loop
	if st.tr.fed == 0 && b[0] != tlsRecordHandshake {
		c.tlsRejectPlain()
		return
	}
	total := st.tr.feed(b)
	if total > tlsMaxHandshakeInput {
		l.stats.TLSHandshakeErrors++
		c.destroy()
		return
	}
	if st.started {
		return
	}
	if total < tlsRecordHeader {
		return
	}
	head := st.tr.head()
	need := tlsRecordHeader + int(head[3])<<8 | int(head[4])
	if total < need {
		return
	}
	st.started = true
	if l.tlsInFlight >= l.cfg.MaxTLSHandshakes {
		st.queued = true
		l.tlsWaiting = append(l.tlsWaiting, c)
		return
	}
	c.tlsHandshake()
}

// tlsRejectPlain answers a connection whose first byte is not a TLS record
// with a plain-text 400 and closes it, lingering so the answer is not lost
// to a reset.
func (c *Conn) tlsRejectPlain() {
	l := c.loop
	l.stats.TLSPlaintextRejected++
	c.writeWireQuiet([]byte(tlsPlainAnswer))
	if c.status == StatusClosed {
		return
	}
	c.Linger()
	c.closeNow()
}

// tlsHandshake starts c's handshake goroutine. Its result comes back to the
// loop as a posted task.
func (c *Conn) tlsHandshake() {
	l, st := c.loop, c.tls
	l.tlsInFlight++
	l.stats.TLSHandshakesInFlight = l.tlsInFlight
	go func() {
		err := st.conn.Handshake()
		l.Post(func() { c.tlsHandshook(st, err) })
	}()
}

// tlsHandshook runs on the loop when st's handshake returned: a success
// opens the connection for its handler, a failure closes it.
func (c *Conn) tlsHandshook(st *tlsState, err error) {
	l := c.loop
	l.tlsInFlight--
	l.stats.TLSHandshakesInFlight = l.tlsInFlight
	l.startWaitingHandshakes()
	l.tlsHandshakeDone()
	if st.client {
		c.tlsClientHandshook(st, err)
		return
	}
	if c.tls != st || c.status != StatusEstablished {
		return // destroyed meanwhile (timeout, shutdown, write failure)
	}
	if err != nil {
		l.stats.TLSHandshakeErrors++
		l.log.Debug("TLS handshake failed", zap.Uint64("conn", c.id),
			zap.Stringer("remote", c.remote), zap.Error(err))
		c.destroy()
		return
	}
	l.stats.TLSHandshakes++
	if c.dialTimer != 0 {
		l.DelTimer(c.dialTimer)
		c.dialTimer = 0
	}
	rest := st.tr.detach()
	st.up = true
	st.opened = true
	c.ln.open(c)
	if c.status != StatusEstablished {
		return
	}
	// The client's first records may have come with its Finished.
	c.tlsDeliverEarly(rest)
}

// tlsDeliverEarly delivers the records that came with the peer's last
// handshake flight, in the transport (rest) or already in the tls.Conn's
// buffer: nothing else would wake the loop for them.
func (c *Conn) tlsDeliverEarly(rest []byte) {
	plain, eof := c.tlsOpen(rest)
	if c.status != StatusEstablished {
		return
	}
	if len(plain) > 0 {
		c.deliver(plain)
	}
	if eof && c.status == StatusEstablished {
		c.peerEOF()
	}
}

// Variables for tests.
var (
	// tlsReleaseAfter is how many handshakes make giving memory back
	// worth a collection. A full handshake leaves tens of KiB of garbage
	// (key shares, the signature, the transcript, records), so a burst of
	// connections leaves the heap far above what the connections keep;
	// with GOGC's 100 % the next collection is due only when the heap has
	// doubled again, and on an idle server that may be never.
	tlsReleaseAfter = 128
	// tlsReleaseQuiet is how long no handshake may have finished, nor be
	// running, before the burst counts as over: under a steady stream of
	// new connections the garbage is reused and nothing is released.
	tlsReleaseQuiet = time.Second
)

// releaseMemory collects and returns free memory to the kernel, once at a
// time per process: it runs on its own goroutine, never on a loop's.
var releaseMemory = func() {
	if !releasing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer releasing.Store(false)
		debug.FreeOSMemory()
	}()
}

var releasing atomic.Bool

// tlsHandshakeDone counts a finished handshake (either way) and, after
// tlsReleaseAfter of them, waits for their burst to end and gives the
// garbage they left back to the kernel: idle TLS connections then cost
// what they keep, not what their handshakes once used.
func (l *Loop) tlsHandshakeDone() {
	l.tlsSinceRelease++
	if l.tlsSinceRelease >= tlsReleaseAfter && l.tlsReleaseTimer == 0 {
		l.armTLSRelease()
	}
}

func (l *Loop) armTLSRelease() {
	mark := l.tlsSinceRelease
	l.tlsReleaseTimer = l.addInternalTimer(tlsReleaseQuiet, func() {
		l.tlsReleaseTimer = 0
		if l.tlsInFlight > 0 || len(l.tlsWaiting) > 0 || l.tlsSinceRelease != mark {
			l.armTLSRelease()
			return
		}
		l.tlsSinceRelease = 0
		releaseMemory()
	})
}

// startWaitingHandshakes starts queued handshakes while there is room.
func (l *Loop) startWaitingHandshakes() {
	for len(l.tlsWaiting) > 0 && l.tlsInFlight < l.cfg.MaxTLSHandshakes {
		c := l.tlsWaiting[0]
		l.tlsWaiting[0] = nil
		l.tlsWaiting = l.tlsWaiting[1:]
		if len(l.tlsWaiting) == 0 {
			l.tlsWaiting = nil
		}
		if c.status != StatusEstablished || c.tls == nil || !c.tls.queued {
			continue
		}
		c.tls.queued = false
		c.tlsHandshake()
	}
}

// tlsOpen decrypts ciphertext, returning the plaintext of every complete
// record (in the loop's tlsPlain buffer, valid until the next call) and
// whether the peer sent close_notify. A record that fails to decrypt or
// verify destroys c. Records crypto/tls writes meanwhile (a KeyUpdate
// answer, an alert) are written out.
func (c *Conn) tlsOpen(ct []byte) (plain []byte, eof bool) {
	l, st := c.loop, c.tls
	st.tr.src = ct
	plain = l.tlsPlain[:0]
	var err error
	for {
		if cap(plain)-len(plain) < 4<<10 {
			plain = append(plain, make([]byte, 16<<10)...)[:len(plain)]
		}
		var n int
		n, err = st.conn.Read(plain[len(plain):cap(plain)])
		plain = plain[:len(plain)+n]
		if err != nil {
			break
		}
	}
	st.tr.src = nil
	l.tlsPlain = plain[:0]
	if len(l.tlsOut) > 0 {
		out := l.tlsOut
		l.tlsOut = l.tlsOut[:0]
		c.writeWireQuiet(out)
		if c.status == StatusClosed {
			return nil, false
		}
	}
	var wb wouldBlock
	switch {
	case errors.As(err, &wb):
	case errors.Is(err, io.EOF):
		eof = true
	default:
		l.stats.ProtocolErrors++
		l.log.Debug("closing TLS connection on a bad record", zap.Uint64("conn", c.id),
			zap.Stringer("remote", c.remote), zap.Error(err))
		c.destroy()
		return nil, false
	}
	return plain, eof
}

// tlsSeal encrypts plaintext into TLS records, in the loop's tlsOut buffer
// (valid until the next seal). The transport cannot fail, so neither can
// the write, short of a bug: then nil.
func (c *Conn) tlsSeal(plain []byte) []byte {
	l := c.loop
	l.tlsOut = l.tlsOut[:0]
	if !c.tlsSealMore(plain) {
		return nil
	}
	out := l.tlsOut
	l.tlsOut = l.tlsOut[:0]
	if cap(out) > 4*corkLimit {
		l.tlsOut = nil // one large write must not pin its buffer
	}
	return out
}

// tlsSealMore appends the records of plain to the loop's tlsOut.
func (c *Conn) tlsSealMore(plain []byte) bool {
	if len(plain) == 0 {
		return true
	}
	if _, err := c.tls.conn.Write(plain); err != nil {
		c.loop.log.Error("TLS write failed", zap.Uint64("conn", c.id), zap.Error(err))
		return false
	}
	return true
}

// sealing reports whether plaintext written to c must be encrypted now.
// Records carry implicit sequence numbers, so they must be sealed in the
// order they go out: while a file region is queued, what is written after
// it stays plaintext in the queue and is sealed when the region is done
// (tlsSendFile).
func (c *Conn) sealing() bool { return c.tls != nil && c.tls.up && c.out.files == nil }

// tlsSendFile sends part of the backlog's due file region over TLS: it reads
// at most tlsFileChunk bytes (and budget), seals them, writes what the
// socket takes and queues the rest of those records ahead of the region's
// remainder. So a file is never in memory beyond one chunk per connection.
// When the region ends, the plaintext queued behind it (see sealing) is
// sealed too, after it.
func (c *Conn) tlsSendFile(seg *fileSeg, budget int) (sent int, full, alive bool) {
	l := c.loop
	want := int(min(seg.left, int64(budget), tlsFileChunk))
	if cap(l.fileBuf) < want {
		l.fileBuf = make([]byte, tlsFileChunk)
	}
	buf := l.fileBuf[:want]
	n, err := unix.Pread(seg.fd, buf, seg.off)
	if n <= 0 {
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			return 0, false, true
		}
		l.stats.SendFail++
		l.log.Debug("file unreadable or shorter than the region queued; closing connection",
			zap.Uint64("conn", c.id), zap.Int64("missing", seg.left), zap.Error(err))
		c.destroy()
		return 0, false, false
	}
	done := int64(n) == seg.left
	c.out.fileSent(int64(n)) // seg may be gone now
	l.tlsOut = l.tlsOut[:0]
	ok := c.tlsSealMore(buf[:n])
	if ok && done {
		if k := c.out.memAhead(); k > 0 {
			// buf is sealed already: reuse it for the plaintext.
			l.fileBuf = c.out.takeFront(l.fileBuf[:0], k)
			ok = c.tlsSealMore(l.fileBuf)
			if cap(l.fileBuf) > tlsFileChunk {
				l.fileBuf = nil
			}
		}
	}
	if !ok {
		l.stats.SendFail++
		c.destroy()
		return n, false, false
	}
	ct := l.tlsOut
	l.tlsOut = l.tlsOut[:0]
	if cap(ct) > 4*corkLimit {
		l.tlsOut = nil
	}
	w, err := writeRaw(c.fd, ct)
	if w > 0 {
		c.bytesWritten += uint64(w)
		c.progressed()
	} else {
		w = 0
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.stats.SendFail++
		l.log.Debug("write failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
		c.destroy()
		return n, false, false
	}
	if w < len(ct) {
		c.out.prepend(ct[w:])
		return n, true, true
	}
	return n, false, true
}
