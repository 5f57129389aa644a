// Command channelpush is the Workerman manual's Channel cluster push
// (1.15.2): websocket clients connect to a worker of two processes, and an
// HTTP endpoint, in another worker, pushes to one connection of one
// process, or to every connection of every process, through a channel
// server. Each websocket process subscribes to an event named after its
// worker id and to "broadcast"; a publisher needs nothing but the ids a
// client is told when it connects.
//
//	go run ./channelpush start
//	# a websocket client on ws://127.0.0.1:7071/ is told "workerID:1 connectionID:3 connected"
//	curl 'http://127.0.0.1:7072/?to_worker_id=1&to_connection_id=3&content=hi'   # that client only
//	curl 'http://127.0.0.1:7072/?content=hello'                                  # everyone
//
// The channel server is a worker of the same program here (Workerman's
// Channel\Server); on several hosts, run it once (the stock "channel"
// handler) and point every host at it with a token. PHP programs using
// Workerman's Channel client can publish the same events.
//
// CHANNELPUSH_CHANNEL_ADDR (127.0.0.1:7070), CHANNELPUSH_WS_ADDR
// (127.0.0.1:7071) and CHANNELPUSH_HTTP_ADDR (127.0.0.1:7072) change the
// addresses.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

func main() {
	chanAddr := "frame://" + env("CHANNELPUSH_CHANNEL_ADDR", "127.0.0.1:7070")
	server := chanserver.NewServer(chanAddr)

	ws := workerman.NewWorker("websocket://" + env("CHANNELPUSH_WS_ADDR", "127.0.0.1:7071"))
	ws.Name = "pusher"
	ws.Count = 2
	// Each process its own socket: the kernel spreads the clients over
	// both, where one shared socket may give most to whichever wakes first.
	ws.ReusePort = true
	var client channel.Client
	ws.OnWorkerStart = func(w *workerman.Worker) {
		var err error
		client, err = channel.Connect(w.Loop(), chanAddr, channel.Options{
			OnError: func(err error) { fmt.Fprintln(os.Stderr, "pusher:", err) },
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// To one connection of this process: the event is our worker id.
		client.On(strconv.Itoa(w.ID()), func(data any) {
			ev, _ := data.(*phpserialize.Array)
			id, ok := connectionID(get(ev, "to_connection_id"))
			to := w.Connection(id)
			if !ok || to == nil {
				fmt.Printf("worker %d: connection %v not exists\n", w.ID(), get(ev, "to_connection_id"))
				return
			}
			to.SendString(str(get(ev, "content")))
		})
		// To every connection of every process.
		client.On("broadcast", func(data any) {
			ev, _ := data.(*phpserialize.Array)
			msg := str(get(ev, "content"))
			for c := range w.Connections() {
				c.SendString(msg)
			}
		})
	}
	ws.OnWorkerStop = func(*workerman.Worker) { client.Close() }
	ws.OnConnect = func(c *workerman.Connection) {
		c.SendString(fmt.Sprintf("workerID:%d connectionID:%d connected", c.Worker().ID(), c.ID()))
	}

	web := workerman.NewWorker("http://" + env("CHANNELPUSH_HTTP_ADDR", "127.0.0.1:7072"))
	web.Name = "publisher"
	var pub channel.Client
	web.OnWorkerStart = func(w *workerman.Worker) {
		var err error
		if pub, err = channel.Connect(w.Loop(), chanAddr, channel.Options{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	web.OnWorkerStop = func(*workerman.Worker) { pub.Close() }
	web.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		req := m.Value.(*http.Request)
		content := req.Get("content")
		var err error
		if worker, conn := req.Get("to_worker_id"), req.Get("to_connection_id"); worker != "" && conn != "" {
			// The ids as the query gives them, strings, as PHP's
			// publisher sends them: the subscriber takes either.
			err = pub.Publish(map[string]any{"to_connection_id": conn, "content": content}, worker)
		} else {
			err = pub.Publish(map[string]any{"content": content}, "broadcast")
		}
		if err != nil {
			c.SendValue(http.Text(500, err.Error()+"\n"))
			return
		}
		c.SendValue(http.Text(200, "ok"))
	}

	workerman.RunAll(server, ws, web)
}

// get reads a field of an event's data (nil when the data is no array).
func get(a *phpserialize.Array, key string) any {
	if a == nil {
		return nil
	}
	v, _ := a.Get(key)
	return v
}

// connectionID reads a connection id that PHP or Go sent as an integer or
// as a decimal string.
func connectionID(v any) (uint64, bool) {
	switch id := v.(type) {
	case int64:
		return uint64(id), id >= 0
	case string:
		n, err := strconv.ParseUint(id, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// str is a scalar as PHP would print it.
func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
