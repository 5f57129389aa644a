// Package backend is what the client examples (mysqlclient, redisclient,
// httpclient, natsclient, mqttclient, dnsclient, memcacheclient) share: a
// blocking call to a backend run off the event loop with a deadline and a
// bound on the calls in flight, its result back on the loop, and the HTTP
// answers for it, so that each example shows only its client.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// ErrBusy is the error of a call refused because Calls.Max are in flight.
var ErrBusy = errors.New("too many backend calls in flight")

// Calls bounds one process's calls to a backend. The count is kept on the
// loop, like every other piece of the process's state, so it needs no lock:
// Do is loop-only.
type Calls struct {
	// Timeout is each call's deadline, given to the work as its context.
	Timeout time.Duration
	// Max is how many calls may be in flight at once (0: no bound). Each
	// holds a goroutine and, through its client, a connection; above the
	// bound a call fails at once with ErrBusy rather than queueing behind
	// a backend that is already slow.
	Max int

	inFlight int
}

// InFlight is the number of calls started and not yet done. Loop-only.
func (cs *Calls) InFlight() int { return cs.inFlight }

// Do runs work on a goroutine of its own (workerman.Async) with a context
// that ends after cs.Timeout, then done on the loop with its result; an
// error names what was called. work must return when its context ends: the
// clients of the examples take it (or a timeout of the same length), so a
// backend that hangs costs a goroutine until the deadline and never the
// loop. Loop-only.
func Do[T any](loop *workerman.EventLoop, cs *Calls, what string, work func(ctx context.Context) (T, error), done func(T, error)) {
	if cs.Max > 0 && cs.inFlight >= cs.Max {
		var zero T
		done(zero, fmt.Errorf("%s: %w (%d)", what, ErrBusy, cs.Max))
		return
	}
	cs.inFlight++
	timeout := cs.Timeout
	workerman.Async(loop, func() (T, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		v, err := work(ctx)
		// Some clients report the end of their context as a closed
		// connection: say that the deadline passed, so Fail answers 504.
		if err != nil && ctx.Err() != nil && !IsTimeout(err) {
			err = fmt.Errorf("%w (%w after %s)", err, ctx.Err(), timeout)
		}
		return v, err
	}, func(v T, err error) {
		cs.inFlight--
		if err != nil {
			err = fmt.Errorf("%s: %w", what, err)
		}
		done(v, err)
	})
}

// IsTimeout tells whether err is a deadline that passed: a context's, a
// socket's, or a client's own timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// Reply answers the request on c with v as JSON. A connection closed while
// its call was in flight drops the answer, which is all there is to do.
func Reply(c *workerman.Connection, status int, v any) {
	resp, err := http.JSON(status, v)
	if err != nil {
		resp = http.Text(500, "cannot encode the answer: "+err.Error()+"\n")
	}
	_, _ = c.SendValue(resp)
}

// Fail answers a failed call: 503 when too many were in flight, 504 when
// the backend did not answer in time, 502 for any other error (refused,
// reset, an error reply), with the error in the body.
func Fail(c *workerman.Connection, err error) {
	status := 502
	switch {
	case errors.Is(err, ErrBusy):
		status = 503
	case IsTimeout(err):
		status = 504
	}
	Reply(c, status, map[string]string{"error": err.Error()})
}

// Route answers one request. It may answer later, from a done callback.
type Route func(c *workerman.Connection, req *http.Request)

// Serve is an http:// worker's OnMessage that picks the route by path, with
// /ping added: it answers at once, without the backend, so a client can see
// that the loop is free while a backend call hangs.
func Serve(routes map[string]Route) func(*workerman.Connection, workerman.Message) {
	return func(c *workerman.Connection, m workerman.Message) {
		req := m.Value.(*http.Request)
		if req.Path() == "/ping" {
			Reply(c, 200, map[string]any{"pong": os.Getpid()})
			return
		}
		r, ok := routes[req.Path()]
		if !ok {
			Reply(c, 404, map[string]string{"error": "not found: " + req.Path()})
			return
		}
		r(c, req)
	}
}

// Env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func Env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Duration is Env parsed as a duration; a bad value stops the program,
// since it would otherwise run with a setting nobody chose.
func Duration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a positive duration such as 2s\n", key, v)
		os.Exit(2)
	}
	return d
}

// Int is Env parsed as a positive integer; a bad value stops the program.
func Int(key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a positive integer\n", key, v)
		os.Exit(2)
	}
	return n
}
