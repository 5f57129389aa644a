// Command broadcast is a text worker that sends every line it receives to
// every connection, the sender's included, prefixed with the sender's
// connection id.
//
//	go run ./broadcast start
//	exec 3<>/dev/tcp/127.0.0.1/7040; cat <&3 &    # in two terminals
//	printf 'hello\n' >&3                          # appears in both
//
// BROADCAST_ADDR changes the address (127.0.0.1:7040).
package main

import (
	"fmt"
	"os"

	"github.com/workermand/workermand/workerman"
)

func main() {
	w := workerman.NewWorker("text://" + env("BROADCAST_ADDR", "127.0.0.1:7040"))
	w.Name = "broadcast"
	// Connections() is this process's: one process sees every client.
	w.Count = 1
	w.OnConnect = func(c *workerman.Connection) {
		c.SendString(fmt.Sprintf("welcome, you are %d", c.ID()))
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		line := fmt.Appendf(nil, "%d: %s", c.ID(), m.Data)
		for to := range c.Worker().Connections() {
			// A client that stopped reading loses lines once its send
			// buffer is full, rather than making the process hold them.
			to.Send(line)
		}
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
