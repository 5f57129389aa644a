package loadgen

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
)

// UDPMain is the datagram generator's command line (udpload): -conns UDP
// sockets, each with one datagram of -size bytes in flight, checked
// against its echo; the events and RESULT line are loadgen's.
func UDPMain(args []string) error {
	cfg := Config{}
	return Command("udpload", args, &cfg, Help{
		Mode:        "reqresp only: one datagram in flight per socket",
		Size:        "bytes per datagram (a line: the last is '\\n')",
		DialTimeout: "timeout for a socket's first echo",
	}, func(*flag.FlagSet) {}, func(ctx context.Context) (Result, error) { return RunUDP(ctx, cfg) })
}

// RunUDP drives a datagram echo server at cfg.Addr. Each socket is
// connected, so it sees only the server's datagrams, and first proves the
// server answers it; a datagram lost on the way (none should be, on
// loopback, with one in flight per socket) leaves its socket waiting until
// the run's deadline and fails the measurement, as a lost TCP echo would.
func RunUDP(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Mode != ReqResp {
		return Result{}, fmt.Errorf("mode %q: udpload runs reqresp only (a batch of datagrams may be dropped by the socket buffers, which is not what is measured)", cfg.Mode)
	}
	if cfg.Size < 2 {
		return Result{}, fmt.Errorf("size %d: need at least 2 bytes", cfg.Size)
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	return Drive(ctx, cfg, Protocol[net.Conn]{
		Open: func(ctx context.Context, id int) (net.Conn, Opened) {
			c, err := d.DialContext(ctx, "udp", cfg.Addr)
			if err != nil {
				return nil, DialFailed
			}
			return checkedOpen(c, cfg, id)
		},
		Start: func(id int, c net.Conn) (Exchange, int) {
			out := makeLines(cfg.Size, 1, id)
			in := make([]byte, cfg.Size+1) // one more: a longer answer is a mismatch, not a cut
			return func(seq uint64) (bool, error) {
				stamp(out, seq)
				if _, err := c.Write(out); err != nil {
					return false, err
				}
				n, err := c.Read(in)
				if err != nil {
					return false, err
				}
				return !bytes.Equal(in[:n], out), nil
			}, 1
		},
		Close: func(conns []net.Conn, _ bool) { closeAll(conns, false) },
	})
}
