package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsPeer is a websocket client whose messages a goroutine reads into a
// channel, so a test can wait for one with a deadline without cancelling
// the read (which would close the connection).
type wsPeer struct {
	t  *testing.T
	c  *websocket.Conn
	in chan string
}

func newWSPeer(ctx context.Context, t *testing.T, url string) *wsPeer {
	t.Helper()
	p := &wsPeer{t: t, c: dialWS(ctx, t, url), in: make(chan string, 1000)}
	go func() {
		defer close(p.in)
		for {
			_, b, err := p.c.Read(ctx)
			if err != nil {
				return
			}
			p.in <- string(b)
		}
	}()
	return p
}

// next is the next message, within d.
func (p *wsPeer) next(d time.Duration) (string, bool) {
	select {
	case m, ok := <-p.in:
		return m, ok
	case <-time.After(d):
		return "", false
	}
}

func (p *wsPeer) expect(want string) {
	p.t.Helper()
	if m, ok := p.next(slow(10 * time.Second)); !ok || m != want {
		p.t.Fatalf("websocket client: got %q (%v), want %q", m, ok, want)
	}
}

func (p *wsPeer) write(ctx context.Context, msg string) {
	p.t.Helper()
	wsWrite(ctx, p.t, p.c, msg)
}

// settle sends probe n with send until every peer received it, reading
// away older probes: the processes subscribe to the channel server after
// they are ready, so the first messages may reach only some of them. Once
// it returns, each peer has read everything sent before.
func settle(t *testing.T, peers []*wsPeer, send func(probe string)) {
	t.Helper()
	deadline := time.Now().Add(slow(15 * time.Second))
	for n := 0; time.Now().Before(deadline); n++ {
		probe := fmt.Sprintf("probe %d", n)
		send(probe)
		all := true
		for _, p := range peers {
			for {
				m, ok := p.next(300 * time.Millisecond)
				if !ok {
					all = false
					break
				}
				if m == probe {
					break
				}
				if !strings.HasPrefix(m, "probe ") {
					t.Fatalf("while settling: unexpected %q", m)
				}
			}
		}
		if all {
			return
		}
	}
	t.Fatal("the processes never all received a probe")
}

// examples/channelpush: the manual's cluster push. Websocket clients land
// in both processes of the pusher worker and are told their worker and
// connection ids; the HTTP publisher pushes to exactly one of them by
// those ids, through the channel server, or to all of them; an unknown
// connection gets nothing.
func TestExampleChannelPush(t *testing.T) {
	t.Parallel()
	chanAddr, wsAddr, httpAddr := loopback(t), loopback(t), loopback(t)
	d := startExample(t, "channelpush", "CHANNELPUSH_CHANNEL_ADDR="+chanAddr,
		"CHANNELPUSH_WS_ADDR="+wsAddr, "CHANNELPUSH_HTTP_ADDR="+httpAddr)
	d.waitReady("ChannelServer", 1)
	d.waitReady("pusher", 2)
	d.waitReady("publisher", 1)
	ctx, cancel := context.WithTimeout(context.Background(), slow(60*time.Second))
	defer cancel()

	// Clients until both processes have some (the kernel picks).
	type peer struct {
		*wsPeer
		worker, conn int
	}
	var peers []peer
	perWorker := map[int]int{}
	for i := 0; i < 24 && (perWorker[0] == 0 || perWorker[1] == 0 || len(peers) < 4); i++ {
		p := newWSPeer(ctx, t, "ws://"+wsAddr+"/")
		hello, ok := p.next(slow(10 * time.Second))
		var w, c int
		if _, err := fmt.Sscanf(hello, "workerID:%d connectionID:%d connected", &w, &c); !ok || err != nil {
			t.Fatalf("greeting %q (%v): %v", hello, ok, err)
		}
		peers = append(peers, peer{p, w, c})
		perWorker[w]++
	}
	if perWorker[0] == 0 || perWorker[1] == 0 {
		t.Fatalf("clients per worker id: %v, want some in both processes", perWorker)
	}
	all := make([]*wsPeer, len(peers))
	for i, p := range peers {
		all[i] = p.wsPeer
	}
	push := func(query url.Values) {
		t.Helper()
		if code, _, body := httpGet(t, "http://"+httpAddr+"/?"+query.Encode()); code != 200 || body != "ok" {
			t.Fatalf("GET ?%s: %d %q", query.Encode(), code, body)
		}
	}
	settle(t, all, func(probe string) { push(url.Values{"content": {probe}}) })

	// To each client by its ids: that client only, whichever process.
	for i, p := range peers {
		msg := fmt.Sprintf("just for %d", i)
		push(url.Values{"to_worker_id": {fmt.Sprint(p.worker)}, "to_connection_id": {fmt.Sprint(p.conn)}, "content": {msg}})
		p.expect(msg)
	}
	// An id nobody has: nothing (and the publisher still answers ok).
	push(url.Values{"to_worker_id": {"0"}, "to_connection_id": {"99999"}, "content": {"lost"}})
	push(url.Values{"content": {"to everyone"}})
	for _, p := range peers {
		// The next message of each is the broadcast: no one got another's.
		p.expect("to everyone")
	}
	stopExample(t, d, wsAddr, chanAddr, httpAddr)
}

// examples/channelgroup: the manual's group send over two processes:
// members of a group get what is sent to it, the sender's copy included
// when it is a member, whichever process holds them; others get nothing;
// a closed member is dropped from its groups.
func TestExampleChannelGroup(t *testing.T) {
	t.Parallel()
	chanAddr, wsAddr := loopback(t), loopback(t)
	d := startExample(t, "channelgroup", "CHANNELGROUP_CHANNEL_ADDR="+chanAddr,
		"CHANNELGROUP_WS_ADDR="+wsAddr, "CHANNELGROUP_COUNT=2")
	d.waitReady("ChannelServer", 1)
	st := d.waitReady("group", 2)
	ctx, cancel := context.WithTimeout(context.Background(), slow(60*time.Second))
	defer cancel()

	// Six clients at least, and more until both processes hold one
	// (connections --json tells), so that messages cross processes.
	var peers []*wsPeer
	for len(peers) < 6 || !everyProcessHolds(t, d, st, "group") {
		if len(peers) == 16 {
			t.Fatalf("16 clients, still a process without one:\n%s", d.run("connections", "--json").out)
		}
		p := newWSPeer(ctx, t, "ws://"+wsAddr+"/")
		p.write(ctx, `{"cmd":"add_group","group_id":"all"}`)
		peers = append(peers, p)
	}
	settle(t, peers, func(probe string) {
		peers[0].write(ctx, fmt.Sprintf(`{"cmd":"send_to_group","group_id":"all","message":%q}`, probe))
	})
	// Groups: 1 holds peers 0, 1, 2; "2" (a number in JSON, a string
	// here: one group, as one PHP array key) holds 3 and 4; 5 is in none.
	for i, p := range peers[:5] {
		g := `"g1"`
		if i >= 3 {
			g = []string{`2`, `"2"`}[i%2]
		}
		p.write(ctx, `{"cmd":"add_group","group_id":`+g+`}`)
	}
	// Each joined before the "all" message that follows its add_group on
	// the same connection; from several connections the order is the
	// server's, so the six are compared as a set.
	for i, p := range peers {
		p.write(ctx, fmt.Sprintf(`{"cmd":"send_to_group","group_id":"all","message":"joined %d"}`, i))
	}
	for _, p := range peers {
		got := map[string]bool{}
		for range peers {
			m, ok := p.next(slow(10 * time.Second))
			if !ok {
				t.Fatalf("got %v, then nothing", got)
			}
			got[m] = true
		}
		for i := range peers {
			if !got[fmt.Sprintf("joined %d", i)] {
				t.Fatalf("got %v, want joined 0 to 5", got)
			}
		}
	}

	send := func(from int, group, msg string) {
		peers[from].write(ctx, fmt.Sprintf(`{"cmd":"send_to_group","group_id":%s,"message":%q}`, group, msg))
	}
	// One sender per round, so that its messages keep their order.
	send(5, `"g1"`, "to g1")
	send(5, `2`, "to 2 from a stranger")
	send(5, `"all"`, "end of round")
	for i, p := range peers {
		switch {
		case i < 3:
			p.expect("to g1")
		case i < 5:
			p.expect("to 2 from a stranger")
		}
		p.expect("end of round")
	}

	// A closed member leaves its groups; the others still get them.
	_ = peers[1].c.Close(websocket.StatusNormalClosure, "")
	for {
		if _, ok := <-peers[1].in; !ok {
			break
		}
	}
	send(0, `"g1"`, "g1 without 1")
	send(0, `"all"`, "end")
	for i, p := range peers {
		if i == 1 {
			continue
		}
		if i == 0 || i == 2 {
			p.expect("g1 without 1")
		}
		p.expect("end")
	}
	// A command the example does not know is answered, not fatal.
	peers[5].write(ctx, `{"cmd":"explode","group_id":1}`)
	peers[5].expect(`{"error":"unknown cmd"}`)
	stopExample(t, d, wsAddr, chanAddr)
}

// everyProcessHolds reports whether every process of worker holds a
// connection of it, as connections --json shows.
func everyProcessHolds(t *testing.T, d *daemon, st *statusDoc, worker string) bool {
	t.Helper()
	var rows []struct {
		PID    int    `json:"pid"`
		Worker string `json:"worker"`
	}
	r := d.mustRun(0, "connections", "--json")
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("connections --json: %v in %q", err, r.out)
	}
	held := map[int]bool{}
	for _, row := range rows {
		if row.Worker == worker {
			held[row.PID] = true
		}
	}
	for _, p := range st.procs(worker) {
		if !held[p.PID] {
			return false
		}
	}
	return true
}
