package globaldata_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/globaldata"
	gdserver "github.com/workermand/workermand/handlers/globaldata"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// startServers runs n GlobalData servers in one process and returns their
// addresses and the process, whose loop the tests' clients share.
func startServers(t *testing.T, n int) ([]string, *workerman.Process) {
	t.Helper()
	var ws []*workerman.Worker
	for i := range n {
		w := gdserver.NewServer("frame://127.0.0.1:0")
		w.Name = fmt.Sprintf("gd%d", i)
		ws = append(ws, w)
	}
	p := workermantest.Start(t, ws...)
	var addrs []string
	for _, w := range ws {
		addrs = append(addrs, w.Addr().String())
	}
	return addrs, p
}

// result is what a callback received.
type result struct {
	v   any
	err error
}

// run calls start on the loop with a callback for one result and waits for
// it.
func run(t *testing.T, loop *workerman.EventLoop, start func(done func(v any, err error))) result {
	t.Helper()
	var r result
	workermantest.OnLoopAsync(t, loop, func(done func()) {
		start(func(v any, err error) {
			r = result{v, err}
			done()
		})
	})
	return r
}

func TestClientCommands(t *testing.T) {
	addrs, p := startServers(t, 1)
	loop := p.Loop()
	c := globaldata.New(loop, addrs...)
	t.Cleanup(c.Close)

	nested := map[string]any{"list": []any{int64(1), 0.5, "x"}, "ok": true}
	steps := []struct {
		name string
		call func(done func(any, error))
		want string // fmt of the value, or "error: …"
	}{
		{"get absent", func(d func(any, error)) { c.Get("k", d) }, "<nil>"},
		{"set", func(d func(any, error)) { c.Set("k", nested, func(err error) { d("set", err) }) }, "set"},
		{"get", func(d func(any, error)) {
			c.Get("k", func(v any, err error) {
				b, _ := phpserialize.Marshal(v)
				d(string(b), err)
			})
		}, `a:2:{s:4:"list";a:3:{i:0;i:1;i:1;d:0.5;i:2;s:1:"x";}s:2:"ok";b:1;}`},
		{"add existing", func(d func(any, error)) { c.Add("k", 1, func(b bool, err error) { d(b, err) }) }, "false"},
		{"add new", func(d func(any, error)) { c.Add("n", 40, func(b bool, err error) { d(b, err) }) }, "true"},
		{"increment", func(d func(any, error)) { c.Increment("n", 2, d) }, "42"},
		{"increment absent", func(d func(any, error)) { c.Increment("none", 2, d) }, "error: " + globaldata.ErrNotFound.Error()},
		// Cas with the old value as given to Set (a map, sorted keys):
		// the same bytes as the server's.
		{"cas", func(d func(any, error)) {
			c.Cas("k", nested, 1.5, func(b bool, err error) { d(b, err) })
		}, "true"},
		{"cas stale", func(d func(any, error)) {
			c.Cas("k", nested, 2.5, func(b bool, err error) { d(b, err) })
		}, "false"},
		{"increment float", func(d func(any, error)) { c.Increment("k", 1, d) }, "2.5"},
		{"cas absent", func(d func(any, error)) { c.Cas("fresh", nil, "x", func(b bool, err error) { d(b, err) }) }, "true"},
		{"delete", func(d func(any, error)) { c.Delete("k", func(err error) { d("deleted", err) }) }, "deleted"},
		{"get deleted", func(d func(any, error)) { c.Get("k", d) }, "<nil>"},
		{"unsupported value", func(d func(any, error)) { c.Set("k", struct{}{}, func(err error) { d(nil, err) }) }, "error: "},
	}
	for _, st := range steps {
		r := run(t, loop, st.call)
		got := fmt.Sprint(r.v)
		if r.err != nil {
			got = "error: " + r.err.Error()
		}
		if !strings.HasPrefix(got, st.want) || (!strings.HasPrefix(st.want, "error") && got != st.want) {
			t.Errorf("%s: got %s, want %s", st.name, got, st.want)
		}
	}

	// A Get read back and given to Cas as the old value matches, whatever
	// PHP array it holds.
	run(t, loop, func(d func(any, error)) {
		c.Set("arr", phpserialize.NewList("a", int64(2), nil, 0.1), func(err error) { d(nil, err) })
	})
	got := run(t, loop, func(d func(any, error)) {
		c.Get("arr", func(v any, err error) {
			if err != nil {
				d(nil, err)
				return
			}
			c.Cas("arr", v, "replaced", func(b bool, err error) { d(b, err) })
		})
	})
	if got.v != true || got.err != nil {
		t.Errorf("cas with the value Get returned: %v, %v", got.v, got.err)
	}

	// From another goroutine, the callbacks still run on the loop.
	done := make(chan bool, 1)
	c.Get("arr", func(v any, err error) { done <- loop.OnLoop() && v == "replaced" })
	select {
	case ok := <-done:
		if !ok {
			t.Error("a Get from another goroutine: callback off the loop, or wrong value")
		}
	case <-time.After(workermantest.Timeout):
		t.Fatal("a Get from another goroutine got no answer")
	}
}

// TestSharding checks that keys land on the server Workerman's client
// would pick, crc32(key) % n, seen through a client of each server alone.
func TestSharding(t *testing.T) {
	addrs, p := startServers(t, 3)
	c := globaldata.New(p.Loop(), addrs...)
	t.Cleanup(c.Close)
	keys := []string{"a", "b", "hello", "user:1", "user:2", "user:3", "counter", "ü"}
	for _, k := range keys {
		run(t, p.Loop(), func(d func(any, error)) { c.Set(k, k, func(err error) { d(nil, err) }) })
	}
	singles := make([]*globaldata.SyncClient, len(addrs))
	for i, a := range addrs {
		s, err := globaldata.Dial(a)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		singles[i] = s
	}
	ctx := context.Background()
	used := map[int]bool{}
	for _, k := range keys {
		want := int(crc32.ChecksumIEEE([]byte(k)) % uint32(len(addrs)))
		used[want] = true
		for i, s := range singles {
			v, err := s.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if (v != nil) != (i == want) {
				t.Errorf("key %q on server %d: %v (want it on server %d only)", k, i, v, want)
			}
		}
	}
	if len(used) < 2 {
		t.Errorf("the keys all landed on one server: %v", used)
	}
	// The blocking client shards the same way.
	all, err := globaldata.Dial(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	for _, k := range keys {
		if v, err := all.Get(ctx, k); v != k || err != nil {
			t.Errorf("SyncClient.Get(%q) = %v, %v", k, v, err)
		}
	}
}

func TestSyncClient(t *testing.T) {
	addrs, _ := startServers(t, 2)
	c, err := globaldata.Dial(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := v.(*phpserialize.Array).List(); !ok || len(l) != 2 || l[1] != "b" {
		t.Fatalf("Get = %v", v)
	}
	if ok, err := c.Add(ctx, "k", 1); ok || err != nil {
		t.Errorf("Add existing = %v, %v", ok, err)
	}
	if ok, err := c.Add(ctx, "n", "10"); !ok || err != nil {
		t.Errorf("Add new = %v, %v", ok, err)
	}
	if v, err := c.Increment(ctx, "n", 5); v != int64(15) || err != nil {
		t.Errorf("Increment of a numeric string = %v, %v", v, err)
	}
	if _, err := c.Increment(ctx, "none", 5); !errors.Is(err, globaldata.ErrNotFound) {
		t.Errorf("Increment absent: %v", err)
	}
	if ok, err := c.Cas(ctx, "k", "nope", "x"); ok || err != nil {
		t.Errorf("Cas with a wrong old value = %v, %v", ok, err)
	}
	if ok, err := c.Cas(ctx, "k", []string{"a", "b"}, "x"); !ok || err != nil {
		t.Errorf("Cas = %v, %v", ok, err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k"); v != nil || err != nil {
		t.Errorf("Get after Delete = %v, %v", v, err)
	}
	// Concurrent use.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := c.Increment(ctx, "n", 1); err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v, _ := c.Get(ctx, "n"); v != int64(415) {
		t.Errorf("after 400 concurrent increments: %v", v)
	}
	// A cancelled context fails the call without a round trip.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Get(cctx, "n"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
	if v, err := c.Get(ctx, "n"); v != int64(415) || err != nil {
		t.Errorf("Get after a cancelled one: %v, %v", v, err)
	}
}

// silentServer accepts connections and reads frames without answering;
// it reports each payload it reads.
func silentServer(t *testing.T) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 100)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go func() {
				var hdr [4]byte
				for {
					if _, err := io.ReadFull(conn, hdr[:]); err != nil {
						return
					}
					b := make([]byte, binary.BigEndian.Uint32(hdr[:])-4)
					if _, err := io.ReadFull(conn, b); err != nil {
						return
					}
					select {
					case got <- string(b):
					default:
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), got
}

func TestClientTimeoutAndPing(t *testing.T) {
	addr, got := silentServer(t)
	_, p := startServers(t, 1)
	c := globaldata.New(p.Loop(), addr)
	c.Timeout = 200 * time.Millisecond
	c.PingInterval = 50 * time.Millisecond
	t.Cleanup(c.Close)
	start := time.Now()
	r := run(t, p.Loop(), func(d func(any, error)) { c.Get("k", d) })
	if !errors.Is(r.err, globaldata.ErrTimeout) {
		t.Fatalf("Get from a server that never answers: %v, %v", r.v, r.err)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 2*time.Second {
		t.Errorf("timed out after %s, want about 200ms", el)
	}
	// The request went out, then pings as Workerman's client sends them.
	deadline := time.After(workermantest.Timeout)
	pings := 0
	for pings < 2 {
		select {
		case s := <-got:
			if s == "ping" {
				pings++
			}
		case <-deadline:
			t.Fatalf("%d pings seen", pings)
		}
	}

	s, err := globaldata.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = 100 * time.Millisecond
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, globaldata.ErrTimeout) {
		t.Errorf("SyncClient.Get from a server that never answers: %v", err)
	}
}

// TestClientReconnect stops the server under a client: the request in
// flight fails, and once a server listens again requests work.
func TestClientReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, p := startServers(t, 1)
	c := globaldata.New(p.Loop(), addr)
	c.ReconnectInterval = 20 * time.Millisecond
	c.Timeout = 500 * time.Millisecond
	t.Cleanup(c.Close)
	// Nothing listens: the request waits for the server, then times out.
	r := run(t, p.Loop(), func(d func(any, error)) { c.Get("k", d) })
	if !errors.Is(r.err, globaldata.ErrTimeout) {
		t.Fatalf("Get with no server: %v, %v", r.v, r.err)
	}
	w := gdserver.NewServer("frame://" + addr)
	sp := workermantest.Start(t, w)
	c.Timeout = workermantest.Timeout
	r = run(t, p.Loop(), func(d func(any, error)) { c.Set("k", "v", func(err error) { d(nil, err) }) })
	if r.err != nil {
		t.Fatalf("Set once the server is up: %v", r.err)
	}
	workermantest.Stop(t, sp)
	// The connection is gone; a request either fails with it or waits
	// for the next server.
	sp2 := workermantest.Start(t, gdserver.NewServer("frame://"+addr))
	_ = sp2
	deadline := time.Now().Add(workermantest.Timeout)
	for {
		r = run(t, p.Loop(), func(d func(any, error)) { c.Get("k", d) })
		if r.err == nil {
			break
		}
		if !errors.Is(r.err, globaldata.ErrConnectionLost) || time.Now().After(deadline) {
			t.Fatalf("Get after the server restarted: %v", r.err)
		}
	}
	if r.v != nil {
		t.Errorf("a new server without a snapshot has %v", r.v)
	}
}

func TestClosed(t *testing.T) {
	addrs, p := startServers(t, 1)
	c := globaldata.New(p.Loop(), addrs...)
	c.Close()
	r := run(t, p.Loop(), func(d func(any, error)) { c.Get("k", d) })
	if !errors.Is(r.err, globaldata.ErrClosed) {
		t.Errorf("Get after Close: %v", r.err)
	}
}

// TestUnixSocket reaches a server on a Unix socket with both clients.
func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "gd.sock")
	p := workermantest.Start(t, gdserver.NewServer("unix://"+sock))
	c := globaldata.New(p.Loop(), "unix://"+sock)
	t.Cleanup(c.Close)
	r := run(t, p.Loop(), func(d func(any, error)) { c.Set("k", 1.5, func(err error) { d(nil, err) }) })
	if r.err != nil {
		t.Fatalf("Set over a Unix socket: %v", r.err)
	}
	s, err := globaldata.Dial("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Increment(context.Background(), "k", 1); v != 2.5 || err != nil {
		t.Errorf("Increment over a Unix socket = %v, %v", v, err)
	}
}
