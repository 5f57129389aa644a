// Command proxy is the Workerman manual's port forwarding: each connection
// it accepts opens an AsyncTcpConnection to a backend, and the two are
// piped both ways, bytes as they come (tcp:// has no framing).
//
//	go run ./httpapi start        # the default backend, 127.0.0.1:7010
//	go run ./proxy start
//	curl 'http://127.0.0.1:7050/hello?name=proxy'
//
// PROXY_ADDR (127.0.0.1:7050) and PROXY_BACKEND (127.0.0.1:7010) change
// the addresses.
package main

import (
	"os"

	"github.com/workermand/workermand/workerman"
)

func main() {
	backend := "tcp://" + env("PROXY_BACKEND", "127.0.0.1:7010")

	w := workerman.NewWorker("tcp://" + env("PROXY_ADDR", "127.0.0.1:7050"))
	w.Name = "proxy"
	w.Count = 2
	w.OnConnect = func(c *workerman.Connection) {
		remote, err := workerman.NewAsyncTcpConnection(c.Loop(), backend)
		if err != nil { // a malformed address: nothing to forward to
			c.Destroy()
			return
		}
		// Pipe closes each side when the other closes, a failed connect
		// to the backend included, and pauses the reader while the writer
		// is full, so a slow client never makes the proxy buffer without
		// bound. What the client sends before the backend answers is
		// queued until it does.
		remote.Pipe(c)
		c.Pipe(&remote.Connection)
		remote.Connect()
	}
	workerman.RunAll(w)
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
