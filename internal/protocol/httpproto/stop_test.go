package httpproto_test

import (
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// TestGracefulStop: a graceful stop closes keep-alive connections between
// requests at once, answers the request in flight first, and then ends.
func TestGracefulStop(t *testing.T) {
	// The slow request is answered by the test, once the stop has shown
	// its effect, so it is surely in flight while the stop begins.
	slow := make(chan *workerman.Connection, 1)
	w := newWorker(func(c *workerman.Connection, m workerman.Message) {
		if m.Value.(*http.Request).Path() == "/slow" {
			slow <- c
			return
		}
		c.SendString("ok")
	})
	p := workermantest.Start(t, w)
	addr := w.Addr().String()

	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	body(t, idle.response("GET"))
	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	var inFlight *workerman.Connection
	select {
	case inFlight = <-slow:
	case <-time.After(workermantest.Timeout):
		t.Fatal("the slow request did not reach the handler")
	}

	start := time.Now()
	p.StopGracefully(30 * time.Second)
	idle.expectEOF()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("idle keep-alive connection closed after %v", d)
	}
	inFlight.SendString("slow done")
	if got := body(t, busy.response("GET")); got != "slow done" {
		t.Fatalf("in-flight request: %q", got)
	}
	busy.expectEOF()
	workermantest.Wait(t, p)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful stop took %v with nothing left to wait for", d)
	}
}
