// Command codefirst is a code-first program as a user writes one: workers
// built in Go, then workerman.RunAll. The integration tests build it in its
// own module (a replace points at the checkout), twice: variant "b", set
// with -ldflags "-X main.variant=b", no longer defines the echo worker, as
// a new release that drops one would.
package main

import (
	"crypto/tls"
	"os"
	"time"

	_ "github.com/workermand/workermand/handlers/echo"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

var variant = "a"

func main() {
	api := workerman.NewWorker(os.Getenv("CODEFIRST_API"))
	api.Name = "api"
	api.Count = 2
	api.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		req := m.Value.(*http.Request)
		switch req.Path() {
		case "/stop":
			// Workerman's Worker::stopAll() from a request handler.
			c.SendValue(http.Text(200, "stopping"))
			workerman.StopAll()
		default:
			resp, err := http.JSON(200, map[string]any{"pid": os.Getpid(), "variant": variant, "worker": api.ID()})
			if err != nil {
				resp = http.Text(500, err.Error())
			}
			c.SendValue(resp)
		}
	}
	// Workerman's new Worker() with no address: a process for timers and
	// clients. It counts its ticks where status shows them (timers).
	ticker := workerman.NewWorker("")
	ticker.Name = "ticker"
	ticker.OnWorkerStart = func(w *workerman.Worker) {
		w.Timer().Add(50*time.Millisecond, func() {})
	}
	workers := []*workerman.Worker{api, ticker}
	if variant == "a" {
		echo := workerman.NewWorker(os.Getenv("CODEFIRST_ECHO"))
		echo.Name = "echo"
		echo.OnConnect = func(c *workerman.Connection) {
			c.SendString("hello from " + variant) // the text protocol adds the "\n"
		}
		echo.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }
		workers = append(workers, echo)
	}
	if cert := os.Getenv("CODEFIRST_TLS_CERT"); cert != "" {
		// A TLS worker with the program's own *tls.Config: the master
		// binds its port, each child loads the pair.
		pair, err := tls.LoadX509KeyPair(cert, os.Getenv("CODEFIRST_TLS_KEY"))
		if err != nil {
			panic(err)
		}
		secure := workerman.NewWorker(os.Getenv("CODEFIRST_HTTPS"))
		secure.Name = "secure"
		secure.Count = 2
		secure.ReusePort = true // the kernel spreads connections over both
		secure.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		secure.OnMessage = func(c *workerman.Connection, m workerman.Message) {
			c.SendValue(http.Text(200, "Hello, World!")) // what the TLS tests' s_client helper expects
		}
		workers = append(workers, secure)
	}
	d := workerman.Daemon{PidFile: os.Getenv("CODEFIRST_PID"), Daemonize: os.Getenv("CODEFIRST_DAEMONIZE") != ""}
	if dir := os.Getenv("CODEFIRST_WATCH"); dir != "" {
		d.Monitor = &workerman.FileMonitor{Paths: []string{dir}, Extensions: []string{"tmpl"}, InDaemon: true}
	}
	d.RunAll(workers...)
}
