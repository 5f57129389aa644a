package workerman

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"reflect"
	"sync"

	"github.com/workermand/workermand/internal/ipc"
)

// sessionTicketKeys gives the TLS servers of a daemon child the session
// ticket keys its master owns and rotates, so that a client resumes on any
// child of a worker, not only on the one that issued its ticket, and after
// a reload too. Nil outside a daemon child: a Process of one's own keeps
// crypto/tls's per-config keys and rotation.
//
// Each server gets keys derived from the master's by its worker's name and
// listen address: the same in every child of that worker, and across a
// reload that keeps both, but distinct between workers, so that a ticket
// one worker issued never resumes on another, which may trust other client
// CAs or serve other certificates (a resumed session renegotiates
// neither).
type sessionTicketKeys struct {
	mu      sync.Mutex
	master  []ipc.TicketKey
	servers []ticketServer
}

// ticketServer is a config in use and the label its keys derive from.
type ticketServer struct {
	label string
	cfg   *tls.Config
}

func newSessionTicketKeys(keys []ipc.TicketKey) *sessionTicketKeys {
	return &sessionTicketKeys{master: keys}
}

// serverConfig is the config w serves with: for a config that would rotate
// its own keys, a clone with the shared keys set (the caller's config is
// left as it is: a Worker's TLS may be shared with other code), remembered
// so that later rotations reach it. A config that disables tickets or
// brings keys of its own is served as it is.
func (s *sessionTicketKeys) serverConfig(w *Worker, cfg *tls.Config) *tls.Config {
	if s == nil || cfg == nil || !rotatesOwnTicketKeys(cfg) {
		return cfg
	}
	srv := ticketServer{label: w.Name + "\x00" + w.ListenAddr, cfg: cfg.Clone()}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Without keys (a master older than them) the clone keeps
	// crypto/tls's own until a rotation brings some.
	if len(s.master) > 0 {
		srv.cfg.SetSessionTicketKeys(deriveTicketKeys(s.master, srv.label))
	}
	s.servers = append(s.servers, srv)
	return srv.cfg
}

// set installs the master's new keys in every config serving. crypto/tls
// allows SetSessionTicketKeys on a config in use: handshakes in flight
// finish with the keys they read.
func (s *sessionTicketKeys) set(keys []ipc.TicketKey) {
	if s == nil || len(keys) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.master = keys
	for _, srv := range s.servers {
		srv.cfg.SetSessionTicketKeys(deriveTicketKeys(keys, srv.label))
	}
}

// deriveTicketKeys derives one server's keys from the master's, in order
// (the current first), with HKDF-SHA256 on the server's label.
func deriveTicketKeys(master []ipc.TicketKey, label string) [][32]byte {
	out := make([][32]byte, len(master))
	for i, k := range master {
		b, err := hkdf.Key(sha256.New, k[:], nil, "workermand TLS session ticket key\x00"+label, len(out[i]))
		if err != nil {
			// Only a length beyond 255 hash blocks fails; 32 bytes cannot.
			panic("workerman: derive a session ticket key: " + err.Error())
		}
		copy(out[i][:], b)
		clear(b)
	}
	return out
}

// rotatesOwnTicketKeys reports whether cfg issues session tickets under
// keys crypto/tls makes and rotates on its own: tickets are on, and
// neither SessionTicketKey nor SetSessionTicketKeys set keys. crypto/tls
// has no getter for the latter, so the unexported slice it fills is read
// through reflect (Len only, which reflect allows on unexported fields);
// TestRotatesOwnTicketKeys fails if a Go release renames it. Should the
// field be missing, a config is taken to have keys of its own: leaving
// the user's keys alone matters more than resuming across children.
func rotatesOwnTicketKeys(cfg *tls.Config) bool {
	if cfg.SessionTicketsDisabled || cfg.SessionTicketKey != [32]byte{} {
		return false
	}
	f := reflect.ValueOf(cfg).Elem().FieldByName("sessionTicketKeys")
	if !f.IsValid() || f.Kind() != reflect.Slice {
		return false
	}
	return f.Len() == 0
}
