package channel_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// Programs that are not channel clients reach the subscribers through the
// engine itself, with PHP serialize() as the payload, as the README says:
// redis-cli PUBLISH workerman:chat 's:2:"hi";' and
// nats pub workerman.event.chat 's:2:"hi";'. A prefix in the URL moves the
// names.
func TestBackendInterop(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		srv := startRedis(t)
		loop := loopOf(t)
		def, pre := newClient(t, loop, srv.url()), newClient(t, loop, srv.url()+"?prefix=app:")
		def.on("chat")
		pre.on("chat")
		def.settle()
		pre.settle()
		rdb := redis.NewClient(&redis.Options{Addr: srv.addr()})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := rdb.Publish(ctx, "workerman:chat", `s:2:"hi";`).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Publish(ctx, "app:chat", `s:5:"hello";`).Err(); err != nil {
			t.Fatal(err)
		}
		if got := def.expect(1); got[0] != (rec{"chat", "hi"}) {
			t.Errorf("default prefix: %v", got)
		}
		if got := pre.expect(1); got[0] != (rec{"chat", "hello"}) {
			t.Errorf("prefix app:: %v", got)
		}
		def.quiet(200 * time.Millisecond)
		pre.quiet(10 * time.Millisecond)
	})
	t.Run("nats", func(t *testing.T) {
		srv := startNats(t)
		loop := loopOf(t)
		def, pre := newClient(t, loop, srv.url()), newClient(t, loop, srv.url()+"?prefix=app")
		def.on("chat")
		pre.on("chat")
		def.settle()
		pre.settle()
		nc, err := nats.Connect(srv.url())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if err := nc.Publish("workerman.event.chat", []byte(`s:2:"hi";`)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("app.event.chat", []byte(`s:5:"hello";`)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := def.expect(1); got[0] != (rec{"chat", "hi"}) {
			t.Errorf("default prefix: %v", got)
		}
		if got := pre.expect(1); got[0] != (rec{"chat", "hello"}) {
			t.Errorf("prefix app: %v", got)
		}
		def.quiet(200 * time.Millisecond)
		pre.quiet(10 * time.Millisecond)
	})
}
