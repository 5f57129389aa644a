// Command natsclient is an HTTP worker on NATS (the manual's message queue
// clients, 1.15.7): github.com/nats-io/nats.go subscribes to a subject and
// posts each message to the event loop, which keeps the last ones; a
// request publishes, through workerman.Async, and is answered once the
// server has it.
//
//	go run ./natsclient start
//	curl 'http://127.0.0.1:7130/publish?msg=hello'
//	curl http://127.0.0.1:7130/messages
//
// nats.go delivers messages on a goroutine of its own: the handler copies
// each one and hands it to the loop with EventLoop.Post, where the state
// lives without a lock. Publishing only buffers; what waits for the server
// is the flush (a PING answered by a PONG), which runs through Async with a
// deadline: a server that hangs (kill -STOP) costs the request a 504 and
// the loop nothing (/ping answers), a server that is down a 502 or 504
// while nats.go reconnects, and the subscription comes back with it.
//
// NATSCLIENT_ADDR is the address (127.0.0.1:7130), NATSCLIENT_NATS the
// server (nats://127.0.0.1:4222), NATSCLIENT_SUBJECT the subject
// (workermand.example), NATSCLIENT_TIMEOUT each publish's deadline (2s).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// keep is how many received messages /messages lists.
const keep = 20

// The process's connection (nil until connected), subject and the last
// messages received; all loop-only.
var (
	nc      *nats.Conn
	subject string
	recent  []string
	calls   backend.Calls
)

func main() {
	w := workerman.NewWorker("http://" + backend.Env("NATSCLIENT_ADDR", "127.0.0.1:7130"))
	w.Name = "natsclient"
	w.OnWorkerStart = func(w *workerman.Worker) {
		loop := w.Loop()
		subject = backend.Env("NATSCLIENT_SUBJECT", "workermand.example")
		calls = backend.Calls{Timeout: backend.Duration("NATSCLIENT_TIMEOUT", 2*time.Second), Max: 64}
		url := backend.Env("NATSCLIENT_NATS", nats.DefaultURL)
		// Connecting dials (and may wait for a slow server): off the loop.
		backend.Do(loop, &backend.Calls{Timeout: 10 * time.Second}, "nats", func(context.Context) (*nats.Conn, error) {
			c, err := nats.Connect(url,
				nats.Name(fmt.Sprintf("natsclient worker %d", w.ID())),
				// Down at start is like down later: keep trying.
				nats.RetryOnFailedConnect(true),
				nats.MaxReconnects(-1),
				nats.ReconnectWait(500*time.Millisecond),
			)
			if err != nil {
				return nil, fmt.Errorf("connect %s: %w", url, err)
			}
			_, err = c.Subscribe(subject, func(m *nats.Msg) {
				msg := string(m.Data) // a copy, taken on nats.go's goroutine
				loop.Post(func() {
					recent = append(recent, msg)
					if len(recent) > keep {
						recent = recent[len(recent)-keep:]
					}
				})
			})
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("subscribe %s: %w", subject, err)
			}
			return c, nil
		}, func(c *nats.Conn, err error) {
			if err != nil {
				loop.Logger().Error(err.Error())
				return
			}
			nc = c
		})
	}
	w.OnWorkerStop = func(*workerman.Worker) {
		if nc != nil {
			nc.Close()
		}
	}
	w.OnMessage = backend.Serve(map[string]backend.Route{
		"/messages": func(c *workerman.Connection, _ *http.Request) {
			backend.Reply(c, 200, map[string]any{"subject": subject, "messages": recent})
		},
		"/publish": publish,
	})
	workerman.RunAll(w)
}

// publish sends ?msg= to the subject and answers once the server has
// confirmed everything sent so far.
func publish(c *workerman.Connection, req *http.Request) {
	if nc == nil {
		backend.Reply(c, 503, map[string]string{"error": "not connected to NATS yet"})
		return
	}
	conn, msg := nc, req.Get("msg")
	backend.Do(c.Loop(), &calls, "nats publish", func(ctx context.Context) (struct{}, error) {
		if err := conn.Publish(subject, []byte(msg)); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, conn.FlushWithContext(ctx)
	}, func(_ struct{}, err error) {
		if err != nil {
			backend.Fail(c, err)
			return
		}
		backend.Reply(c, 200, map[string]string{"subject": subject, "published": msg})
	})
}
