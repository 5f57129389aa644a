// Command httpclient is an HTTP worker that fetches from another HTTP
// server for each request (the manual's HTTP client, 1.15.6): net/http's
// client run off the event loop through workerman.Async, with a timeout
// and a bound on the requests in flight, the upstream's answer passed on
// from the loop.
//
//	go run ./httpapi start
//	go run ./httpclient start
//	curl 'http://127.0.0.1:7120/fetch?path=/hello%3Fname%3DAda'
//
// A goroutine per request is fine here: net/http's client already runs two
// goroutines per upstream connection (its reader and writer), so the one
// Async adds is a few kilobytes of stack beside them, and the bound on
// requests in flight (HTTPCLIENT_MAX, 503 above it) keeps goroutines,
// sockets and memory in proportion however slow the upstream gets. An
// HTTP client on the loop (Workerman's workerman/http-client) would save
// those goroutines, not the sockets or the upstream's time, which is what
// an overloaded upstream costs.
//
// An upstream that hangs costs the request a 504 after HTTPCLIENT_TIMEOUT
// and the loop nothing (/ping still answers); one that is down gets 502
// with the dial error.
//
// HTTPCLIENT_ADDR is the address (127.0.0.1:7120), HTTPCLIENT_UPSTREAM the
// server fetched from (http://127.0.0.1:7010, the httpapi example),
// HTTPCLIENT_TIMEOUT each fetch's deadline (5s), HTTPCLIENT_MAX the fetches
// in flight per process (64).
package main

import (
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"time"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// maxBody is as much of the upstream's body as is passed on: an upstream
// cannot make this process hold more.
const maxBody = 1 << 20

var (
	upstream string
	client   *nethttp.Client
	calls    backend.Calls
)

func main() {
	w := workerman.NewWorker("http://" + backend.Env("HTTPCLIENT_ADDR", "127.0.0.1:7120"))
	w.Name = "httpclient"
	w.OnWorkerStart = func(*workerman.Worker) {
		upstream = strings.TrimSuffix(backend.Env("HTTPCLIENT_UPSTREAM", "http://127.0.0.1:7010"), "/")
		calls = backend.Calls{
			Timeout: backend.Duration("HTTPCLIENT_TIMEOUT", 5*time.Second),
			Max:     backend.Int("HTTPCLIENT_MAX", 64),
		}
		tr := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
		// Keep-alive connections to the one upstream, as many as may be
		// in flight, so a burst reuses them instead of dialing.
		tr.MaxIdleConnsPerHost = calls.Max
		tr.MaxConnsPerHost = calls.Max
		// The context (Calls.Timeout) bounds each request; Timeout is a
		// second guard should a caller forget it.
		client = &nethttp.Client{Transport: tr, Timeout: calls.Timeout}
	}
	w.OnMessage = backend.Serve(map[string]backend.Route{"/fetch": fetch})
	workerman.RunAll(w)
}

type fetched struct {
	status int
	ctype  string
	body   []byte
}

// fetch GETs ?path= from the upstream and answers with its status,
// Content-Type and body.
func fetch(c *workerman.Connection, req *http.Request) {
	path := req.Get("path")
	if !strings.HasPrefix(path, "/") {
		backend.Reply(c, 400, map[string]string{"error": "path= must start with /"})
		return
	}
	url := upstream + path
	backend.Do(c.Loop(), &calls, "GET "+url, func(ctx context.Context) (fetched, error) {
		r, err := nethttp.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return fetched{}, err
		}
		resp, err := client.Do(r)
		if err != nil {
			return fetched{}, err
		}
		defer resp.Body.Close()
		// Reading the body is part of the call: it too may hang, and
		// the context's deadline covers it.
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return fetched{}, fmt.Errorf("reading the body: %w", err)
		}
		return fetched{resp.StatusCode, resp.Header.Get("Content-Type"), body}, nil
	}, func(f fetched, err error) {
		if err != nil {
			backend.Fail(c, err)
			return
		}
		resp := http.NewResponse(f.status).WithBody(f.body)
		if f.ctype != "" {
			resp.WithHeader("Content-Type", f.ctype)
		}
		_, _ = c.SendValue(resp)
	})
}
