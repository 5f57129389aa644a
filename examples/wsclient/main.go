// Command wsclient is a websocket client on the event loop, as the
// manual's AsyncTcpConnection ws:// example: it connects to a server,
// says hello, prints every message it receives and reconnects a second
// after the connection closes. Lines sent to its own text port go to the
// server, which gives a way to talk through it.
//
//	go run ./chat start                        # the default server, ws://127.0.0.1:7001/
//	go run ./wsclient start                    # prints what the chat says
//	printf 'hi\n' > /dev/tcp/127.0.0.1/7060    # sent to the chat
//
// WSCLIENT_URL (ws://127.0.0.1:7001/) and WSCLIENT_ADDR (127.0.0.1:7060)
// change the server and the text port. A daemon (start -d) prints to its
// stdout_file.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/workermand/workermand/workerman"
)

func main() {
	url := env("WSCLIENT_URL", "ws://127.0.0.1:7001/")

	// A worker needs an address to run under the daemon; this one's
	// text port forwards lines to the server.
	w := workerman.NewWorker("text://" + env("WSCLIENT_ADDR", "127.0.0.1:7060"))
	w.Name = "wsclient"
	w.Count = 1 // one client connection

	var ws *workerman.AsyncTcpConnection
	stopping := false
	w.OnWorkerStart = func(w *workerman.Worker) {
		var err error
		ws, err = workerman.NewAsyncTcpConnection(w.Loop(), url)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ws.OnConnect = func(c *workerman.AsyncTcpConnection) {
			fmt.Println("connected to", url)
			c.SendString(fmt.Sprintf("hello from wsclient %d", os.Getpid()))
		}
		ws.OnMessage = func(_ *workerman.Connection, m workerman.Message) {
			fmt.Printf("received: %s\n", m.Data)
		}
		ws.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) {
			fmt.Printf("error: %v: %v\n", code, err)
		}
		ws.OnClose = func(*workerman.Connection) {
			// Callbacks survive Reconnect, so this keeps the client
			// connected for as long as the process runs.
			if !stopping {
				fmt.Println("closed; reconnecting in 1s")
				ws.Reconnect(time.Second)
			}
		}
		ws.Connect()
	}
	w.OnWorkerStop = func(*workerman.Worker) {
		// The process closes every connection as it stops: no reconnect
		// then.
		stopping = true
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		// Queued while the client is (re)connecting; written once it is up.
		ws.Send(m.Data)
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
