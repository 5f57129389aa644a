package test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A process going down closes its websocket connections with a close frame
// saying 1001 (going away) — on reload (quiet connections), at the end of a
// graceful reload's timeout and on stop — so a browser sees a restart, not
// the 1006 of a dropped connection.
func TestWebSocketGoingAway(t *testing.T) {
	d, addr := startHTTP(t, stockBin, "ws", 1, worker("ws", "websocket://127.0.0.1:0", "echo", 1))
	url := "ws://" + addr + "/"
	ctx, cancel := context.WithTimeout(context.Background(), slow(30*time.Second))
	defer cancel()
	closedWith := func(c *websocket.Conn) websocket.StatusCode {
		readCtx, cancel := context.WithTimeout(ctx, slow(10*time.Second))
		defer cancel()
		for {
			_, _, err := c.Read(readCtx)
			if err == nil {
				continue
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			t.Logf("read ended with %v", err)
			return -1
		}
	}

	c := dialWS(ctx, t, url)
	if err := wsEcho(ctx, c, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	d.mustRun(0, "reload")
	if code := closedWith(c); code != websocket.StatusGoingAway {
		t.Errorf("reload closed a quiet websocket with %v, want 1001 going away", code)
	}

	d.waitReady("ws", 1)
	c = dialWS(ctx, t, url)
	if err := wsEcho(ctx, c, websocket.MessageText, []byte("again")); err != nil {
		t.Fatal(err)
	}
	d.mustRun(0, "stop")
	if code := closedWith(c); code != websocket.StatusGoingAway {
		t.Errorf("stop closed a websocket with %v, want 1001 going away", code)
	}
}
