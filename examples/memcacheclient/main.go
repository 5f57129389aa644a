// Command memcacheclient is an HTTP API on memcached (the manual's memcache
// client, 1.15.10): github.com/bradfitz/gomemcache, every command run off
// the event loop through workerman.Async, its reply answered from the loop.
//
//	go run ./memcacheclient start
//	curl 'http://127.0.0.1:7160/set?key=greeting&value=hello'
//	curl 'http://127.0.0.1:7160/get?key=greeting'
//	curl 'http://127.0.0.1:7160/incr?key=visits'
//
// gomemcache blocks its caller and takes no context: its own socket
// timeout, set to MEMCACHECLIENT_TIMEOUT, is what bounds each command. A
// server that hangs (kill -STOP) costs the request a 504 and the loop
// nothing (/ping answers); one that is down gets 502 with the dial error;
// a key that is not there is a 404, since the server answered.
//
// MEMCACHECLIENT_ADDR is the address (127.0.0.1:7160),
// MEMCACHECLIENT_SERVERS the servers, comma-separated (127.0.0.1:11211;
// keys are spread over them), MEMCACHECLIENT_TIMEOUT the deadline (1s).
package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

var (
	mc    *memcache.Client
	calls backend.Calls
)

func main() {
	w := workerman.NewWorker("http://" + backend.Env("MEMCACHECLIENT_ADDR", "127.0.0.1:7160"))
	w.Name = "memcacheclient"
	w.OnWorkerStart = func(*workerman.Worker) {
		calls = backend.Calls{Timeout: backend.Duration("MEMCACHECLIENT_TIMEOUT", time.Second), Max: 64}
		// New connects lazily, so it is safe on the loop.
		mc = memcache.New(strings.Split(backend.Env("MEMCACHECLIENT_SERVERS", "127.0.0.1:11211"), ",")...)
		// No context reaches gomemcache: its timeout (each dial, write
		// and read) is the deadline.
		mc.Timeout = calls.Timeout
		mc.MaxIdleConns = 8
	}
	w.OnWorkerStop = func(*workerman.Worker) { mc.Close() }
	w.OnMessage = backend.Serve(map[string]backend.Route{
		"/get": func(c *workerman.Connection, req *http.Request) {
			key := req.Get("key")
			command(c, key, func() (any, error) {
				it, err := mc.Get(key)
				if err != nil {
					return nil, err
				}
				return map[string]string{"key": key, "value": string(it.Value)}, nil
			})
		},
		"/set": func(c *workerman.Connection, req *http.Request) {
			key, value := req.Get("key"), req.Get("value")
			command(c, key, func() (any, error) {
				return map[string]string{"key": key, "stored": value}, mc.Set(&memcache.Item{Key: key, Value: []byte(value)})
			})
		},
		"/incr": func(c *workerman.Connection, req *http.Request) {
			key := req.Get("key")
			command(c, key, func() (any, error) {
				n, err := mc.Increment(key, 1)
				if errors.Is(err, memcache.ErrCacheMiss) {
					// memcached increments only an existing number:
					// start it, and lose a race with another process
					// to an increment.
					if err = mc.Add(&memcache.Item{Key: key, Value: []byte("1")}); err == nil {
						n = 1
					} else if errors.Is(err, memcache.ErrNotStored) {
						n, err = mc.Increment(key, 1)
					}
				}
				return map[string]any{"key": key, "value": n}, err
			})
		},
	})
	workerman.RunAll(w)
}

// command runs work through Async and answers its reply: 404 for a key
// the server does not have, the error for any other failure.
func command(c *workerman.Connection, key string, work func() (any, error)) {
	if key == "" {
		backend.Reply(c, 400, map[string]string{"error": "key= is required"})
		return
	}
	backend.Do(c.Loop(), &calls, "memcache", func(context.Context) (any, error) {
		return work()
	}, func(v any, err error) {
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			backend.Reply(c, 404, map[string]string{"key": key, "error": err.Error()})
		case err != nil:
			backend.Fail(c, err)
		default:
			backend.Reply(c, 200, v)
		}
	})
}
