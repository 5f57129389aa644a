package httpproto_test

import (
	"context"
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// TestGracefulStop: a graceful stop closes keep-alive connections between
// requests at once, answers the request in flight first, and then ends.
func TestGracefulStop(t *testing.T) {
	w := newWorker(func(c *workerman.Connection, m workerman.Message) {
		if m.Value.(*http.Request).Path() == "/slow" {
			time.AfterFunc(300*time.Millisecond, func() { c.SendString("slow done") })
			return
		}
		c.SendString("ok")
	})
	ready := make(chan struct{})
	p, err := workerman.NewProcess(workerman.ProcessOptions{OnReady: func() { close(ready) }}, w)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-ready
	addr := w.Addr().String()

	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	body(t, idle.response("GET"))
	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the slow request is in flight

	start := time.Now()
	p.StopGracefully(30 * time.Second)
	idle.expectEOF()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("idle keep-alive connection closed after %v", d)
	}
	if got := body(t, busy.response("GET")); got != "slow done" {
		t.Fatalf("in-flight request: %q", got)
	}
	busy.expectEOF()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Run did not return after the graceful stop")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful stop took %v with nothing left to wait for", d)
	}
}
