package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/workermand/workermand/http/session"
)

func TestRedisStore(t *testing.T) {
	addr := startRedis(t)
	st := session.NewRedisStore(session.RedisOptions{Addr: addr})
	t.Cleanup(func() { st.Close() })
	testStore(t, st)

	// Keys carry the prefix and the session's lifetime as their TTL.
	ctx := context.Background()
	id := session.NewID()
	if err := st.Save(ctx, id, []byte(`{}`), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	ttl, err := st.Client.TTL(ctx, session.DefaultRedisPrefix+id).Result()
	if err != nil {
		t.Fatalf("TTL: %v", err)
	}
	if ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Fatalf("key TTL = %s, want about 90s", ttl)
	}

	custom := session.NewRedisStore(session.RedisOptions{Addr: addr, Prefix: "app:", DB: 1})
	t.Cleanup(func() { custom.Close() })
	if err := custom.Save(ctx, id, []byte(`{"db":1}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if b, err := custom.Client.Get(ctx, "app:"+id).Result(); err != nil || b != `{"db":1}` {
		t.Fatalf("GET app:<id> in DB 1 = %q, %v", b, err)
	}
	if b, _ := st.Load(ctx, id); string(b) != "{}" {
		t.Fatalf("a store with another prefix and DB overwrote this one: %q", b)
	}
}
