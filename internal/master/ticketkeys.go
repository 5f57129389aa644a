package master

import (
	"crypto/rand"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/ipc"
)

// TLS session-ticket keys. Every process serving a host must decrypt the
// tickets the others issued, or a client resumes only when it happens to
// reach the child that served it before; so the master, which outlives
// every child and every reload, owns the keys and hands them out. Setting
// them (tls.Config.SetSessionTicketKeys) turns off crypto/tls's own
// rotation, so the master rotates them, as Caddy does: a new key every 12
// hours, the last 4 kept, so a ticket resumes for 36 to 48 hours after it
// was issued.
//
// The master keeps one set for the daemon; each child derives from it the
// keys of each TLS server it runs, by worker name and listen address
// (workerman's sessionTicketKeys). So every child of a worker derives the
// same keys, and a reload that keeps the worker keeps its tickets valid,
// while a ticket one worker issued never resumes on another: workers may
// differ in client CAs, certificates or ALPN, which a resumed session
// does not renegotiate. One set here keeps rotation and reload to one
// timer and one value.
//
// The keys live in the master's memory only: never on disk, in a log line,
// in status or in the config; a child gets them over its channel.
const (
	// DefaultTicketKeyRotation is how often the master makes a new key.
	DefaultTicketKeyRotation = 12 * time.Hour
	// ticketKeysKept is how many keys decrypt: the current one and the
	// three before it.
	ticketKeysKept = 4
)

// ticketKeyRing is the current key and those kept for decryption, the
// current first. Its own lock: a child's setup reads it off the master
// loop (converse).
type ticketKeyRing struct {
	mu   sync.Mutex
	keys []ipc.TicketKey
}

func newTicketKeyRing() *ticketKeyRing {
	r := &ticketKeyRing{}
	r.rotate()
	return r
}

// rotate puts a new random key first and drops the oldest beyond
// ticketKeysKept, wiping it: a dropped key must not linger in the heap
// of the process that made it.
func (r *ticketKeyRing) rotate() {
	var k ipc.TicketKey
	rand.Read(k[:]) // crypto/rand: never fails (it crashes the process instead)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) >= ticketKeysKept {
		for i := ticketKeysKept - 1; i < len(r.keys); i++ {
			clear(r.keys[i][:])
		}
		r.keys = r.keys[:ticketKeysKept-1]
	}
	r.keys = append([]ipc.TicketKey{k}, r.keys...)
}

// current is a copy of the keys, the current one first.
func (r *ticketKeyRing) current() []ipc.TicketKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ipc.TicketKey(nil), r.keys...)
}

// rotateTicketKeys makes a new key and gives every child the new set.
// Children whose setup has not gone out yet get it with their setup
// (see proc.sendTicketKeys). The sends run off the master loop: a child
// that does not read its channel must not stall supervision.
func (m *Master) rotateTicketKeys() {
	m.ticketKeys.rotate()
	procs := m.children()
	m.log.Info("TLS session-ticket keys rotated", zap.Int("children", len(procs)),
		zap.Duration("next_in", m.opts.TicketKeyRotation))
	go func() {
		for _, p := range procs {
			if err := p.sendTicketKeys(m.ticketKeys); err != nil {
				m.log.Warn("cannot give a child the new TLS session-ticket keys", zap.String("worker", p.worker.Name),
					zap.Int("id", p.id), zap.Int("child_pid", p.pid), zap.Error(err))
			}
		}
	}()
}

// sendTicketKeys gives a child that has its setup the ring's current
// keys. It reads them under the child's keysMu, as the setup does, so a
// rotation racing a child's start cannot leave it with the keys before:
// either the setup carries the new set or this sends it after.
func (p *proc) sendTicketKeys(r *ticketKeyRing) error {
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	if !p.setupSent {
		return nil
	}
	return p.ch.Send(&ipc.Message{Type: ipc.TypeTicketKeys, TicketKeys: r.current()})
}
