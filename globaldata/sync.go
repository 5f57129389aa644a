package globaldata

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// SyncClient is a blocking GlobalData client, for code outside an event
// loop, like Workerman's own client: one connection per server, one request
// at a time on each. It is safe for concurrent use; calls to one server
// wait for each other. A connection that fails or times out is dropped and
// dialed again by the next request.
//
// Never call it from a loop callback: it would stall the loop for a round
// trip. Use Client there.
type SyncClient struct {
	// Timeout bounds each request (dial, write, reply) when ctx has no
	// earlier deadline (DefaultTimeout when zero).
	Timeout time.Duration

	servers []*syncConn
}

type syncConn struct {
	network, address string

	mu   sync.Mutex
	conn net.Conn
	buf  []byte
}

// Dial connects to the servers at addrs ("host:port", or
// "unix:///path"; with none, 127.0.0.1:2207), each within DefaultTimeout.
func Dial(addrs ...string) (*SyncClient, error) {
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:2207"}
	}
	c := &SyncClient{}
	for _, a := range addrs {
		network, address := serverAddr(a)
		c.servers = append(c.servers, &syncConn{network: network, address: address})
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	for _, s := range c.servers {
		s.mu.Lock()
		err := s.dial(ctx)
		s.mu.Unlock()
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Get returns key's value: nil when it has none.
func (c *SyncClient) Get(ctx context.Context, key string) (any, error) {
	return c.run(ctx)(getOp(key))
}

// Set stores value under key.
func (c *SyncClient) Set(ctx context.Context, key string, value any) error {
	_, err := c.run(ctx)(setOp(key, value))
	return err
}

// Add stores value under key unless the key holds a value already, and
// reports whether it did.
func (c *SyncClient) Add(ctx context.Context, key string, value any) (bool, error) {
	v, err := c.run(ctx)(addOp(key, value))
	b, _ := v.(bool)
	return b, err
}

// Increment adds step to key's value and returns the sum (see
// Client.Increment).
func (c *SyncClient) Increment(ctx context.Context, key string, step int64) (any, error) {
	return c.run(ctx)(incrementOp(key, step))
}

// Cas stores new under key if its value is still old, and reports whether
// it did (see Client.Cas).
func (c *SyncClient) Cas(ctx context.Context, key string, old, new any) (bool, error) {
	v, err := c.run(ctx)(casOp(key, old, new))
	b, _ := v.(bool)
	return b, err
}

// Delete removes key.
func (c *SyncClient) Delete(ctx context.Context, key string) error {
	_, err := c.run(ctx)(deleteOp(key))
	return err
}

// Close closes the connections. Requests after it dial again.
func (c *SyncClient) Close() error {
	var errs []error
	for _, s := range c.servers {
		s.mu.Lock()
		if s.conn != nil {
			errs = append(errs, s.conn.Close())
			s.conn = nil
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// run returns the function that sends an op built by one of the *Op
// constructors and reads its reply.
func (c *SyncClient) run(ctx context.Context) func(op, error) (any, error) {
	return func(o op, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("globaldata: %w", err)
		}
		timeout := or(c.Timeout, DefaultTimeout)
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		s := c.servers[shard(o.key, len(c.servers))]
		reply, err := s.roundTrip(ctx, o.payload)
		if err != nil {
			return nil, err
		}
		v, err := o.parse(reply)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("globaldata: server %s: %w", s.address, err)
		}
		return v, err
	}
}

func (s *syncConn) dial(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, s.network, s.address)
	if err != nil {
		return fmt.Errorf("globaldata: dial %s: %w", s.address, err)
	}
	s.conn = conn
	return nil
}

// roundTrip sends one request frame and reads the reply frame. Any error
// drops the connection, since a reply may still be on its way.
func (s *syncConn) roundTrip(ctx context.Context, payload []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return nil, err
		}
	}
	conn := s.conn
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	// A cancel (not only the deadline) interrupts the I/O at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	reply, err := s.exchange(payload)
	if err != nil {
		conn.Close()
		s.conn = nil
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("globaldata: server %s: %w", s.address, ctx.Err())
		}
		// The socket's deadline is the context's, and may pass first.
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("%w: server %s", ErrTimeout, s.address)
		}
		return nil, fmt.Errorf("%w: server %s: %w", ErrConnectionLost, s.address, err)
	}
	return reply, nil
}

func (s *syncConn) exchange(payload []byte) ([]byte, error) {
	s.buf = binary.BigEndian.AppendUint32(s.buf[:0], uint32(len(payload)+4))
	s.buf = append(s.buf, payload...)
	if _, err := s.conn.Write(s.buf); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(s.conn, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 4 || n-4 > maxReply {
		return nil, fmt.Errorf("frame length %d", n)
	}
	reply := make([]byte, n-4)
	if _, err := io.ReadFull(s.conn, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// maxReply is the largest reply read: the server's max_package_size
// default, since a value was one request's worth at most.
const maxReply = 10 << 20
