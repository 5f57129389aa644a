package workerman_test

import (
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// A worker without an address (Workerman's new Worker()) runs its
// OnWorkerStart and timers and reaches other workers through clients, next
// to a worker that listens.
func TestWorkerWithoutAddress(t *testing.T) {
	echo := workerman.NewWorker("text://127.0.0.1:0")
	echo.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }
	got := make(chan string, 1)
	ticker := workerman.NewWorker("")
	ticker.Name = "ticker"
	ticker.OnWorkerStart = func(w *workerman.Worker) {
		w.Timer().AddOnce(10*time.Millisecond, func() {
			c, err := workerman.NewAsyncTcpConnection(w.Loop(), "text://"+echo.Addr().String())
			if err != nil {
				got <- err.Error()
				return
			}
			c.OnConnect = func(c *workerman.AsyncTcpConnection) { c.SendString("tick") }
			c.OnMessage = func(c *workerman.Connection, m workerman.Message) {
				got <- string(m.Data)
				c.Close()
			}
			c.Connect()
		})
	}
	workermantest.Start(t, echo, ticker)
	select {
	case s := <-got:
		if s != "tick" {
			t.Fatalf("the ticker's client got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker without an address never reached the echo worker")
	}

	bad := workerman.NewWorker("")
	bad.Transport = "ssl"
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}, bad); err == nil || !strings.Contains(err.Error(), "need a ListenAddr") {
		t.Errorf("a transport without an address: %v", err)
	}
}
