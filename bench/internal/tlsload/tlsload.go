package tlsload

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
)

// Main is the idle HTTPS generator's command line (tlsload): -conns TLS
// connections, each making one GET whose answer is checked, then held
// open; loadgen's events and RESULT line.
func Main(args []string) error {
	cfg := Config{}
	return loadgen.Command("tlsload", args, &cfg.Config, loadgen.Help{
		Mode:        "idle only: open -conns connections, one request each, and hold them",
		Size:        "unused",
		DialTimeout: "timeout per connect, handshake and first response",
	}, func(fs *flag.FlagSet) {
		fs.StringVar(&cfg.CA, "ca", "", "PEM `file` of the certificate to trust (default: no verification)")
		fs.StringVar(&cfg.Body, "body", "Hello, World!", "the response body every GET / must return")
	}, func(ctx context.Context) (loadgen.Result, error) { return Run(ctx, cfg) })
}

// Config is one run: the generator's common settings, the CA to trust
// and the body expected.
type Config struct {
	loadgen.Config
	CA   string
	Body string
}

// conn is one held connection; raw is kept to reset it at the end.
type conn struct {
	*tls.Conn
	raw *net.TCPConn
}

// Run executes cfg.
func Run(ctx context.Context, cfg Config) (loadgen.Result, error) {
	if cfg.Mode != loadgen.Idle {
		return loadgen.Result{Mode: cfg.Mode}, fmt.Errorf("mode %q: tlsload only holds idle connections (wrk measures the rest)", cfg.Mode)
	}
	tcfg, err := ClientConfig(cfg.CA)
	if err != nil {
		return loadgen.Result{Mode: cfg.Mode}, err
	}
	// No resumption: each connection is a full handshake, as wrk's are.
	tcfg.ClientSessionCache = nil
	d := net.Dialer{Timeout: cfg.DialTimeout}
	req := "GET / HTTP/1.1\r\nHost: " + cfg.Addr + "\r\n\r\n"
	return loadgen.Drive(ctx, cfg.Config, loadgen.Protocol[conn]{
		Open: func(ctx context.Context, _ int) (conn, loadgen.Opened) {
			c, err := d.DialContext(ctx, "tcp", cfg.Addr)
			if err != nil {
				return conn{}, loadgen.DialFailed
			}
			tc := tls.Client(c, tcfg)
			ok, err := get(tc, req, cfg.Body, cfg.DialTimeout)
			switch {
			case err != nil:
				c.Close()
				return conn{}, loadgen.ExchangeFailed
			case !ok:
				c.Close()
				return conn{}, loadgen.Mismatched
			}
			return conn{Conn: tc, raw: c.(*net.TCPConn)}, loadgen.OpenOK
		},
		Start: func(int, conn) (loadgen.Exchange, int) { panic("tlsload runs idle only") },
		Close: func(conns []conn, _ bool) {
			// Reset: thousands of sockets per round must not linger.
			for _, c := range conns {
				_ = c.raw.SetLinger(0)
				_ = c.raw.Close()
			}
		},
	})
}

// get makes the handshake and one keep-alive GET on c, and reports
// whether the answer was 200 with body.
func get(c *tls.Conn, req, body string, timeout time.Duration) (bool, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return false, err
	}
	if _, err := io.WriteString(c, req); err != nil {
		return false, err
	}
	// A reader of its own per connection, dropped after: the generator
	// holds nothing but the tls.Conn while idle.
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		return false, err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK && string(got) == body && !resp.Close, nil
}
