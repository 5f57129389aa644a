// Command dnsclient is an HTTP worker that resolves names (the manual's DNS
// client, 1.15.9): net.Resolver run off the event loop through
// workerman.Async with a deadline, the addresses answered from the loop.
//
//	go run ./dnsclient start
//	curl 'http://127.0.0.1:7150/resolve?host=localhost'
//
// A lookup blocks its goroutine for as long as the name server takes
// (seconds, with retries, when one is slow or gone), so it never runs on
// the loop: through Async a server that does not answer costs the request
// a 504 after DNSCLIENT_TIMEOUT and the loop nothing (/ping answers); a
// server that refuses gets 502. AsyncTcpConnection already does this for
// the host name it connects to: its lookup runs through Async too, and only
// the connect itself is on the loop.
//
// DNSCLIENT_ADDR is the address (127.0.0.1:7150), DNSCLIENT_SERVER a name
// server (host:port, over UDP) to ask instead of the system's resolver
// (/etc/resolv.conf, /etc/hosts first), DNSCLIENT_TIMEOUT each lookup's
// deadline (2s).
package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

var (
	resolver *net.Resolver
	calls    backend.Calls
)

func main() {
	w := workerman.NewWorker("http://" + backend.Env("DNSCLIENT_ADDR", "127.0.0.1:7150"))
	w.Name = "dnsclient"
	w.OnWorkerStart = func(*workerman.Worker) {
		calls = backend.Calls{Timeout: backend.Duration("DNSCLIENT_TIMEOUT", 2*time.Second), Max: 64}
		resolver = net.DefaultResolver
		if server := backend.Env("DNSCLIENT_SERVER", ""); server != "" {
			// Go's own resolver, sending every query to server whatever
			// /etc/resolv.conf names (its errors still name the server
			// from there: the address Dial is given and ignores).
			resolver = &net.Resolver{
				PreferGo: true,
				Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, server)
				},
			}
		}
	}
	w.OnMessage = backend.Serve(map[string]backend.Route{"/resolve": resolve})
	workerman.RunAll(w)
}

// resolve looks up ?host= and answers its addresses.
func resolve(c *workerman.Connection, req *http.Request) {
	host := req.Get("host")
	if host == "" {
		backend.Reply(c, 400, map[string]string{"error": "host= is required"})
		return
	}
	backend.Do(c.Loop(), &calls, "resolve "+host, func(ctx context.Context) ([]netip.Addr, error) {
		return resolver.LookupNetIP(ctx, "ip", host)
	}, func(addrs []netip.Addr, err error) {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			// The server answered: there is no such name.
			backend.Reply(c, 404, map[string]string{"host": host, "error": err.Error()})
			return
		}
		if err != nil {
			backend.Fail(c, err)
			return
		}
		backend.Reply(c, 200, map[string]any{"host": host, "addresses": addrs})
	})
}
