package master

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/ipc"
	"github.com/workermand/workermand/internal/testcert"
)

// rawKeys is what a TLS server gets from the ring.
func rawKeys(r *ticketKeyRing) [][32]byte {
	var out [][32]byte
	for _, k := range r.current() {
		out = append(out, [32]byte(k))
	}
	return out
}

// A ticket sealed with a key resumes while the key is among the four kept:
// through three rotations, and no longer after the fourth. Both TLS 1.2
// tickets and TLS 1.3 PSKs. The rotation is driven by hand, as the master's
// ticker would every 12 hours.
func TestTicketKeyRotationKeepsFourKeys(t *testing.T) {
	pair := testcert.SelfSigned(t, testcert.Options{Names: []string{"site.test"}})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ring := newTicketKeyRing()
			if n := len(ring.current()); n != 1 {
				t.Fatalf("a new ring holds %d keys, want 1", n)
			}
			// A fresh server config per connection, as a new child has:
			// what resumes is what the keys decrypt, nothing cached.
			server := func() *tls.Config {
				c := &tls.Config{Certificates: []tls.Certificate{pair.Cert}, MinVersion: version, MaxVersion: version}
				c.SetSessionTicketKeys(rawKeys(ring))
				return c
			}
			cache := tls.NewLRUClientSessionCache(4)
			client := &tls.Config{RootCAs: pair.Pool(), ServerName: "site.test", ClientSessionCache: cache,
				MinVersion: version, MaxVersion: version}
			if testcert.Resumes(t, server(), client) {
				t.Fatal("the first connection resumed")
			}
			// The session the first connection got, offered again each
			// time: a resumed TLS 1.3 connection gets a new ticket, sealed
			// with the newest key, which would hide the old key's fate.
			ticket, ok := cache.Get("site.test")
			if !ok {
				t.Fatal("no session ticket after the first connection")
			}
			first := ring.current()[0]
			for rotations := 1; rotations <= ticketKeysKept; rotations++ {
				ring.rotate()
				keys := ring.current()
				if keys[0] == first || len(keys) != min(rotations+1, ticketKeysKept) {
					t.Fatalf("after %d rotations: %d keys, the current one new: %v", rotations, len(keys), keys[0] != first)
				}
				cache.Put("site.test", ticket)
				resumed := testcert.Resumes(t, server(), client)
				if want := rotations < ticketKeysKept; resumed != want {
					t.Fatalf("after %d rotations: resumed %v, want %v", rotations, resumed, want)
				}
			}
			for _, k := range ring.current() {
				if k == first {
					t.Fatal("the first key is still in the ring after 4 rotations")
				}
			}
		})
	}
}

// A rotation reaches the children that have their setup, and not one
// still waiting for it, whose setup carries the new keys instead (a
// message before the setup would fail its start).
func TestTicketKeyRotationReachesChildren(t *testing.T) {
	m := newTestMaster(t, zap.NewNop())
	s := m.slotFor("w", 0)
	s.worker = &config.Worker{Name: "w", Count: 1}
	ready, readyEnd := fakeProc(t, s, stateReady)
	ready.setupSent = true
	starting, startingEnd := fakeProc(t, s, stateStarting)
	s.current, s.next = ready, starting
	before := m.ticketKeys.current()

	m.rotateTicketKeys()
	msg, _, err := readyEnd.Recv(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatalf("the ready child got no keys: %v", err)
	}
	want := m.ticketKeys.current()
	if msg.Type != ipc.TypeTicketKeys || len(msg.TicketKeys) != 2 || msg.TicketKeys[0] != want[0] || msg.TicketKeys[1] != before[0] {
		t.Fatalf("got %q with %d keys, want the new key then the old one", msg.Type, len(msg.TicketKeys))
	}
	if m, _, err := startingEnd.Recv(time.Now().Add(200 * time.Millisecond)); err == nil {
		t.Fatalf("a child without its setup got %q", m.Type)
	}
}

// The master's loop rotates on its own timer (Options.TicketKeyRotation,
// 12 h unless a test shortens it), and keeps 4 keys however many times.
func TestMasterRotatesTicketKeysOnItsTimer(t *testing.T) {
	m := New(&config.Config{}, Options{Logger: zap.NewNop(), TicketKeyRotation: 5 * time.Millisecond})
	first := m.ticketKeys.current()[0]
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx, nil) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		keys := m.ticketKeys.current()
		if len(keys) == ticketKeysKept && keys[len(keys)-1] != first {
			return // rotated at least 4 times, the first key dropped
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d keys, the first still kept: %v", len(keys), keys[len(keys)-1] == first)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDefaultTicketKeyRotation(t *testing.T) {
	if m := New(&config.Config{}, Options{}); m.opts.TicketKeyRotation != 12*time.Hour || ticketKeysKept != 4 {
		t.Fatalf("rotation every %s keeping %d keys, want 12h and 4", m.opts.TicketKeyRotation, ticketKeysKept)
	}
}
