// Package kvload is the load generator of gdbench: each connection
// alternates a SET of its own key and a GET of it, one request in flight,
// against a GlobalData server (Workerman's wire format: frames of PHP
// serialize()) or a Redis server (RESP), and checks every reply byte for
// byte.
package kvload

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/workermand/workermand/bench/internal/loadgen"
)

// Protocols.
const (
	GlobalData = "globaldata"
	Redis      = "redis"
)

// Main is the generator's command line (see loadgen.Command).
func Main(args []string) error {
	var cfg loadgen.Config
	var proto string
	return loadgen.Command("kvload", args, &cfg, loadgen.Help{
		Mode:        "reqresp: one request in flight per connection, SET and GET in turn",
		Size:        "bytes per value",
		DialTimeout: "timeout per connect",
	}, func(fs *flag.FlagSet) {
		fs.StringVar(&proto, "proto", GlobalData, "globaldata or redis")
	}, func(ctx context.Context) (loadgen.Result, error) {
		return Run(ctx, cfg, proto)
	})
}

// Run drives cfg against a server speaking proto.
func Run(ctx context.Context, cfg loadgen.Config, proto string) (loadgen.Result, error) {
	if cfg.Mode != loadgen.ReqResp {
		return loadgen.Result{Mode: cfg.Mode}, fmt.Errorf("mode %q: kvload measures reqresp only", cfg.Mode)
	}
	if proto != GlobalData && proto != Redis {
		return loadgen.Result{Mode: cfg.Mode}, fmt.Errorf("unknown -proto %q", proto)
	}
	if cfg.Size < 20 {
		return loadgen.Result{Mode: cfg.Mode}, fmt.Errorf("size %d: need at least 20 bytes for the sequence number", cfg.Size)
	}
	return loadgen.Drive(ctx, cfg, loadgen.Protocol[*conn]{
		Open: func(ctx context.Context, id int) (*conn, loadgen.Opened) {
			d := net.Dialer{Timeout: cfg.DialTimeout}
			c, err := d.DialContext(ctx, "tcp", cfg.Addr)
			if err != nil {
				return nil, loadgen.DialFailed
			}
			return &conn{Conn: c, proto: proto, key: "bench:" + strconv.Itoa(id), size: cfg.Size}, loadgen.OpenOK
		},
		Start: func(_ int, c *conn) (loadgen.Exchange, int) { return c.exchange, 1 },
		Close: func(conns []*conn, _ bool) {
			for _, c := range conns {
				c.Close()
			}
		},
	})
}

type conn struct {
	net.Conn
	proto string
	key   string
	size  int
	// req, want and got are reused across exchanges.
	req, want, got []byte
}

// value is the value written at seq: size bytes, the number zero-padded.
func (c *conn) value(dst []byte, seq uint64) []byte {
	s := strconv.FormatUint(seq, 10)
	for range c.size - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// exchange makes round trip seq: an even seq sets the key to value(seq),
// an odd one gets it and expects value(seq-1).
func (c *conn) exchange(seq uint64) (mismatch bool, err error) {
	set := seq%2 == 0
	c.req, c.want = c.req[:0], c.want[:0]
	if c.proto == Redis {
		c.req, c.want = c.redis(set, seq)
	} else {
		c.req, c.want = c.globalData(set, seq)
	}
	if _, err := c.Write(c.req); err != nil {
		return false, err
	}
	if cap(c.got) < len(c.want) {
		c.got = make([]byte, len(c.want))
	}
	c.got = c.got[:len(c.want)]
	if _, err := io.ReadFull(c, c.got); err != nil {
		return false, err
	}
	return !bytes.Equal(c.got, c.want), nil
}

func appendPHPString(b []byte, s []byte) []byte {
	b = append(b, "s:"...)
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ":\""...)
	b = append(b, s...)
	return append(b, "\";"...)
}

// globalData builds a framed serialize()d request and the framed reply.
func (c *conn) globalData(set bool, seq uint64) (req, want []byte) {
	req = append(c.req, 0, 0, 0, 0)
	if set {
		req = append(req, `a:3:{s:3:"cmd";s:3:"set";s:3:"key";`...)
		req = appendPHPString(req, []byte(c.key))
		req = append(req, `s:5:"value";`...)
		req = appendPHPString(req, c.value(nil, seq))
		want = append(c.want, 0, 0, 0, 8)
		want = append(want, "b:1;"...)
	} else {
		req = append(req, `a:2:{s:3:"cmd";s:3:"get";s:3:"key";`...)
		req = appendPHPString(req, []byte(c.key))
		want = append(c.want, 0, 0, 0, 0)
		want = appendPHPString(want, c.value(nil, seq-1))
		putLen(want)
	}
	req = append(req, '}')
	putLen(req)
	return req, want
}

// putLen writes a frame's length (its own 4 bytes included) into its head.
func putLen(f []byte) {
	n := len(f)
	f[0], f[1], f[2], f[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func appendBulk(b, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, "\r\n"...)
	b = append(b, s...)
	return append(b, "\r\n"...)
}

// redis builds a RESP SET or GET and the reply it must get.
func (c *conn) redis(set bool, seq uint64) (req, want []byte) {
	if set {
		req = append(c.req, "*3\r\n$3\r\nSET\r\n"...)
		req = appendBulk(req, []byte(c.key))
		req = appendBulk(req, c.value(nil, seq))
		return req, append(c.want, "+OK\r\n"...)
	}
	req = append(c.req, "*2\r\n$3\r\nGET\r\n"...)
	req = appendBulk(req, []byte(c.key))
	return req, appendBulk(c.want, c.value(nil, seq-1))
}
