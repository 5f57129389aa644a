// Package ipc is the channel between the master and each child: a
// SOCK_SEQPACKET socketpair, so every message arrives whole with the file
// descriptors sent alongside it (SCM_RIGHTS). The child gets its end as fd 3
// at exec. Messages are JSON, versioned by the hello/setup handshake; one
// larger than a record may be (the socket's buffer) travels as fragments.
package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Version is the channel protocol a binary speaks. A master accepts a child
// whose version is within one of its own, so a reload that switches to a new
// binary works across one protocol change.
const Version = 1

// ChildEnvMarker is the environment variable the master starts children
// with; a process that finds it runs as a child (package child), with the
// channel on ChildFD.
const ChildEnvMarker = "WORKERMAND_CHILD"

// ChildFD is the descriptor number of the channel in a child.
const ChildFD = 3

// A SOCK_SEQPACKET record cannot be larger than the socket's send buffer
// (about 208 KB by default), whatever we allow: a config of 400 KB failed
// to start with "sendmsg: message too long". So a message goes out as one
// record when it fits in maxRecord, and as a run of fragments otherwise.
// A whole message is plain JSON and starts with '{' (what version 1 always
// sent); a fragment starts with one of the marker bytes below, which JSON
// never does, so a reader tells them apart by the first byte.
const (
	maxRecord    = 32 << 10
	fragMore     = 0x01 // a fragment, more follow
	fragLast     = 0x02 // the last fragment of a message
	fragOverhead = 1
)

// maxMessage bounds one reassembled message: a setup carries the config
// file, a connections answer one row per connection.
const maxMessage = 64 << 20

// maxFDs bounds the descriptors of one message (SCM_MAX_FD is 253).
const maxFDs = 64

// Channel is one end of a master–child channel. Send is safe from several
// goroutines; Recv is meant for one reader at a time.
type Channel struct {
	conn *net.UnixConn
	wmu  sync.Mutex

	// The reader's buffers, allocated once: a status poll every second
	// must not allocate a message-sized buffer each time (it did, 4 MiB,
	// and an idle master with 16 children held 150 MB of garbage).
	rbuf []byte
	oob  []byte
}

// Pair creates a channel: the master's end, and the child's end as a file to
// pass in exec.Cmd.ExtraFiles (it becomes ChildFD).
func Pair() (*Channel, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "ipc-master")
	theirs := os.NewFile(uintptr(fds[1]), "ipc-child")
	ch, err := FromFile(mine)
	mine.Close() // FromFile holds its own duplicate
	if err != nil {
		theirs.Close()
		return nil, nil, err
	}
	return ch, theirs, nil
}

// FromFile makes a channel from a socket file; f may be closed afterwards.
func FromFile(f *os.File) (*Channel, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("ipc: channel from %s: %w", f.Name(), err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("ipc: %s is not a unix socket", f.Name())
	}
	return &Channel{conn: uc}, nil
}

// Send writes one message with the given descriptors attached. The caller
// keeps ownership of fds.
func (c *Channel) Send(m *Message, fds ...int) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("ipc: encode %s: %w", m.Type, err)
	}
	if len(data) > maxMessage {
		return fmt.Errorf("ipc: %s message of %d bytes exceeds %d", m.Type, len(data), maxMessage)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(data) <= maxRecord {
		if _, _, err := c.conn.WriteMsgUnix(data, oob, nil); err != nil {
			return fmt.Errorf("ipc: send %s: %w", m.Type, err)
		}
		return nil
	}
	// Fragments of one message never interleave with another's: wmu is
	// held for all of them. The descriptors ride on the first.
	frag := make([]byte, 0, maxRecord+fragOverhead)
	for len(data) > 0 {
		n := min(len(data), maxRecord)
		marker := byte(fragMore)
		if n == len(data) {
			marker = fragLast
		}
		frag = append(append(frag[:0], marker), data[:n]...)
		if _, _, err := c.conn.WriteMsgUnix(frag, oob, nil); err != nil {
			return fmt.Errorf("ipc: send %s (%d bytes in fragments): %w", m.Type, len(data), err)
		}
		data, oob = data[n:], nil
	}
	return nil
}

// Recv reads one message and the descriptors that came with it; they are
// close-on-exec and owned by the caller. A deadline of zero waits forever
// (for the first record; the fragments of a message follow at once).
// io.EOF (wrapped) means the other end is gone.
func (c *Channel) Recv(deadline time.Time) (*Message, []*os.File, error) {
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return nil, nil, fmt.Errorf("ipc: set deadline: %w", err)
	}
	if c.rbuf == nil {
		c.rbuf = make([]byte, maxRecord+fragOverhead)
		c.oob = make([]byte, unix.CmsgSpace(4*maxFDs))
	}
	var (
		files     []*os.File
		assembled []byte // a fragmented message so far; nil for a whole one
	)
	fail := func(err error) (*Message, []*os.File, error) {
		closeAll(files)
		return nil, nil, err
	}
	for {
		n, oobn, flags, _, err := c.conn.ReadMsgUnix(c.rbuf, c.oob)
		if err != nil {
			return fail(fmt.Errorf("ipc: receive: %w", err))
		}
		got, ferr := parseRights(c.oob[:oobn])
		files = append(files, got...)
		switch {
		case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
			return fail(errors.New("ipc: message or descriptors truncated"))
		case ferr != nil:
			return fail(ferr)
		case n == 0:
			return fail(fmt.Errorf("ipc: receive: %w", errEOF))
		}
		rec := c.rbuf[:n]
		switch rec[0] {
		case fragMore, fragLast:
			if len(assembled)+n-fragOverhead > maxMessage {
				return fail(fmt.Errorf("ipc: fragmented message exceeds %d bytes", maxMessage))
			}
			assembled = append(assembled, rec[fragOverhead:]...)
			if rec[0] == fragMore {
				continue
			}
			rec = assembled
		default:
			if assembled != nil {
				return fail(errors.New("ipc: a whole message arrived inside a fragmented one"))
			}
		}
		m := new(Message)
		if err := json.Unmarshal(rec, m); err != nil {
			return fail(fmt.Errorf("ipc: decode message: %w", err))
		}
		return m, files, nil
	}
}

// errEOF is returned (wrapped) when the peer closed the channel: a zero-length
// read on a SOCK_SEQPACKET socket.
var errEOF = errors.New("channel closed by peer")

// IsClosed reports whether err means the other end closed the channel.
func IsClosed(err error) bool {
	// A SOCK_SEQPACKET read of a closed peer may come back as io.EOF from
	// the net package as well as a zero-length message.
	return errors.Is(err, errEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, unix.ECONNRESET)
}

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("ipc: parse control message: %w", err)
	}
	var files []*os.File
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("ipc: parse descriptors: %w", err)
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "ipc-fd"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// Close closes this end; the peer's Recv then reports the channel closed.
func (c *Channel) Close() error { return c.conn.Close() }
