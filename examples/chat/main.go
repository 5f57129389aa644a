// Command chat is the Workerman manual's websocket chat: every message a
// browser sends goes to every open connection, the sender's included. An
// http:// worker serves the page that opens the websocket.
//
//	go run ./chat start          # then open http://127.0.0.1:7000/ in two tabs
//
// CHAT_PAGE_ADDR and CHAT_WS_ADDR change the addresses (127.0.0.1:7000 and
// 127.0.0.1:7001).
package main

import (
	_ "embed"
	"net"
	"os"
	"strings"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

//go:embed index.html
var page string

func main() {
	wsAddr := env("CHAT_WS_ADDR", "127.0.0.1:7001")

	chat := workerman.NewWorker("websocket://" + wsAddr)
	chat.Name = "chat"
	// A process broadcasts to its own connections only: with two
	// processes, a message would reach half of the browsers.
	chat.Count = 1
	chat.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		// Send copies what it cannot write at once, so m.Data may go
		// out to every connection without a copy of our own.
		for to := range c.Worker().Connections() {
			to.Send(m.Data)
		}
	}

	// The page learns the chat's port from the server, so both
	// addresses stay settable from the environment alone.
	_, wsPort, _ := net.SplitHostPort(wsAddr)
	html := strings.ReplaceAll(page, "{{WS_PORT}}", wsPort)

	web := workerman.NewWorker("http://" + env("CHAT_PAGE_ADDR", "127.0.0.1:7000"))
	web.Name = "page"
	web.Count = 2 // stateless: any process can serve the page
	web.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		req := m.Value.(*http.Request)
		if req.Path() != "/" {
			c.SendValue(http.Text(404, "not found\n"))
			return
		}
		c.SendValue(http.HTML(200, html))
	}

	// Every process of the daemon re-runs main and serves its own
	// worker from here, as Workerman forks after Worker::runAll().
	workerman.RunAll(chat, web)
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll
// (start, stop, reload, status...).
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
