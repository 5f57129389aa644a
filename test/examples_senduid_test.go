package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// examples/senduidcluster: uids and groups (Connection.BindUID,
// JoinGroup, Worker.SendToUID...) over two processes of the real binary
// and the channel server it runs: clients land in both processes; a send
// to a uid, a group or all reaches each of its connections once, whichever
// process sends; the inner port of any process pushes to a uid; a closed
// connection leaves its uid and groups.
func TestExampleSendUIDCluster(t *testing.T) {
	t.Parallel()
	wsAddr, innerAddr, chanAddr := loopback(t), loopback(t), loopback(t)
	d := startExample(t, "senduidcluster", "SENDUID_WS_ADDR="+wsAddr, "SENDUID_INNER_ADDR="+innerAddr,
		"SENDUID_CHANNEL_ADDR="+chanAddr, "SENDUID_COUNT=2")
	d.waitReady("ChannelServer", 1)
	st := d.waitReady("senduid", 2)
	ctx, cancel := context.WithTimeout(context.Background(), slow(60*time.Second))
	defer cancel()

	// Clients u0, u1… until both processes hold one, so sends cross them.
	var peers []*wsPeer
	for len(peers) < 4 || !everyProcessHolds(t, d, st, "senduid") {
		if len(peers) == 16 {
			t.Fatalf("16 clients, still a process without one:\n%s", d.run("connections", "--json").out)
		}
		p := newWSPeer(ctx, t, "ws://"+wsAddr+"/")
		uid := fmt.Sprintf("u%d", len(peers))
		p.write(ctx, uid)
		p.expect("login success, your uid is " + uid)
		peers = append(peers, p)
	}
	push := func(line string) string {
		t.Helper()
		c := dial(t, innerAddr)
		defer c.Close()
		c.writeLine(t, line)
		return c.readLine(t)
	}

	// To each uid from u0: the example asks IsUIDOnline first, so "is
	// offline" means the uid's process has not subscribed yet; try again.
	for i, p := range peers[1:] {
		uid := fmt.Sprintf("u%d", i+1)
		deadline := time.Now().Add(slow(15 * time.Second))
		for sent := false; !sent; {
			peers[0].write(ctx, uid+":hi")
			select {
			case m := <-p.in:
				if m != "u0: hi" {
					t.Fatalf("%s got %q, want u0: hi", uid, m)
				}
				sent = true
			case m := <-peers[0].in:
				if m != uid+" is offline" || time.Now().After(deadline) {
					t.Fatalf("u0 got %q while sending to %s", m, uid)
				}
				time.Sleep(50 * time.Millisecond)
			case <-time.After(slow(10 * time.Second)):
				t.Fatalf("sending to %s: no delivery and no answer", uid)
			}
		}
	}

	// All, from a process then from the other: each client once, in order.
	last := len(peers) - 1
	peers[0].write(ctx, "all:one")
	peers[last].write(ctx, "all:two")
	for _, p := range peers {
		got := []string{}
		for range 2 {
			m, ok := p.next(slow(10 * time.Second))
			if !ok {
				t.Fatalf("got %v, then nothing", got)
			}
			got = append(got, m)
		}
		if strings.Join(got, "|") != "u0: one|u"+fmt.Sprint(last)+": two" &&
			strings.Join(got, "|") != "u"+fmt.Sprint(last)+": two|u0: one" {
			t.Fatalf("got %v, want one and two once each", got)
		}
	}

	// A group of every client but u0; pushed through the inner port
	// until every member has subscribed.
	members := peers[1:]
	for _, p := range members {
		p.write(ctx, "join:room")
		p.expect("joined room")
	}
	settle(t, members, func(probe string) {
		if got := push(fmt.Sprintf(`{"group":"room","msg":%q}`, probe)); got != "ok" {
			t.Fatalf("push to the group: %q", got)
		}
	})
	peers[0].write(ctx, "#room:to the room")
	for _, p := range members {
		p.expect("u0: to the room")
	}

	// The inner port of whichever process pushes to a uid, or says
	// offline.
	if got := push(`{"uid":"u1","msg":"pushed"}`); got != "ok" {
		t.Fatalf("push to u1: %q", got)
	}
	peers[1].expect("pushed")
	if got := push(`{"uid":"nobody","msg":"x"}`); got != "offline" {
		t.Fatalf("push to nobody: %q, want offline", got)
	}

	// A closed client leaves its uid and its groups.
	_ = peers[1].c.Close(websocket.StatusNormalClosure, "")
	for {
		if _, ok := <-peers[1].in; !ok {
			break
		}
	}
	deadline := time.Now().Add(slow(10 * time.Second))
	for push(`{"uid":"u1","msg":"x"}`) != "offline" {
		if time.Now().After(deadline) {
			t.Fatal("u1 still online after its only connection closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	peers[0].write(ctx, "#room:without u1")
	peers[0].write(ctx, "all:end")
	for i, p := range peers {
		switch i {
		case 1:
			continue
		case 0:
		default:
			p.expect("u0: without u1")
		}
		p.expect("u0: end")
	}
	stopExample(t, d, wsAddr, chanAddr, innerAddr)
}
