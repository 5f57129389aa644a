// Command redisclient is an HTTP API on Redis (the manual's Redis client,
// 1.15.5): github.com/redis/go-redis/v9, every command run off the event
// loop through workerman.Async with a deadline, its reply answered from the
// loop.
//
//	go run ./redisclient start
//	curl 'http://127.0.0.1:7110/set?key=greeting&value=hello'
//	curl 'http://127.0.0.1:7110/get?key=greeting'
//	curl 'http://127.0.0.1:7110/incr?key=visits'
//
// go-redis blocks the goroutine that calls it (its pool is made for
// goroutines, not for an event loop), so each command runs through Async;
// its context ends after REDISCLIENT_TIMEOUT. A server that hangs (kill
// -STOP it) costs the request a 504 and the loop nothing: /ping still
// answers; one that is down gets 502 with the dial error.
//
// REDISCLIENT_ADDR is the address (127.0.0.1:7110), REDISCLIENT_REDIS the
// server (127.0.0.1:6379), REDISCLIENT_TIMEOUT each command's deadline (2s).
package main

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// The process's client and its bound on commands in flight.
var (
	rdb   *redis.Client
	calls backend.Calls
)

func main() {
	w := workerman.NewWorker("http://" + backend.Env("REDISCLIENT_ADDR", "127.0.0.1:7110"))
	w.Name = "redisclient"
	w.OnWorkerStart = func(*workerman.Worker) {
		calls = backend.Calls{Timeout: backend.Duration("REDISCLIENT_TIMEOUT", 2*time.Second), Max: 64}
		// NewClient connects lazily, so it is safe on the loop.
		rdb = redis.NewClient(&redis.Options{
			Addr: backend.Env("REDISCLIENT_REDIS", "127.0.0.1:6379"),
			// A pool as large as the calls allowed in flight: a command
			// waits for the server, not for a connection.
			PoolSize: calls.Max,
			// The context's deadline is the one that counts, socket
			// reads and writes included.
			ContextTimeoutEnabled: true,
			MaxRetries:            -1, // a retry would outlive the deadline the caller chose
		})
	}
	w.OnWorkerStop = func(*workerman.Worker) { rdb.Close() }
	w.OnMessage = backend.Serve(map[string]backend.Route{
		"/get": func(c *workerman.Connection, req *http.Request) {
			key := req.Get("key")
			command(c, func(ctx context.Context) (any, error) {
				v, err := rdb.Get(ctx, key).Result()
				if errors.Is(err, redis.Nil) {
					return map[string]any{"key": key, "value": nil}, nil
				}
				return map[string]any{"key": key, "value": v}, err
			})
		},
		"/set": func(c *workerman.Connection, req *http.Request) {
			key, value := req.Get("key"), req.Get("value")
			command(c, func(ctx context.Context) (any, error) {
				reply, err := rdb.Set(ctx, key, value, 0).Result()
				return map[string]string{"key": key, "reply": reply}, err
			})
		},
		"/incr": func(c *workerman.Connection, req *http.Request) {
			key := req.Get("key")
			command(c, func(ctx context.Context) (any, error) {
				n, err := rdb.Incr(ctx, key).Result()
				return map[string]any{"key": key, "value": n}, err
			})
		},
	})
	workerman.RunAll(w)
}

// command runs work through Async and answers its reply, or the error.
func command(c *workerman.Connection, work func(ctx context.Context) (any, error)) {
	backend.Do(c.Loop(), &calls, "redis", work, func(v any, err error) {
		if err != nil {
			backend.Fail(c, err)
			return
		}
		backend.Reply(c, 200, v)
	})
}
