package workerman

import (
	"crypto/rand"
	"crypto/tls"
	"testing"

	"github.com/workermand/workermand/internal/ipc"
	"github.com/workermand/workermand/internal/testcert"
)

func newTicketKeys(t *testing.T, n int) []ipc.TicketKey {
	t.Helper()
	keys := make([]ipc.TicketKey, n)
	for i := range keys {
		rand.Read(keys[i][:])
	}
	return keys
}

// Two children of one worker, each with its own clone of the worker's
// config, resume each other's sessions under the master's keys; another
// worker does not; a rotation reaches a config already serving; the
// worker's own config is never changed.
func TestSessionTicketKeysShareAmongChildren(t *testing.T) {
	pair := testcert.SelfSigned(t, testcert.Options{Names: []string{"site.test"}})
	user := &tls.Config{Certificates: []tls.Certificate{pair.Cert}, MinVersion: tls.VersionTLS13}
	w := &Worker{Name: "web", ListenAddr: "ssl://127.0.0.1:4443", TLS: user}
	other := &Worker{Name: "admin", ListenAddr: "ssl://127.0.0.1:4444", TLS: user}
	master := newTicketKeys(t, 2)
	child1, child2 := newSessionTicketKeys(master), newSessionTicketKeys(master)
	cfg1, cfg2, cfgOther := child1.serverConfig(w, w.TLS), child2.serverConfig(w, w.TLS), child2.serverConfig(other, other.TLS)
	if cfg1 == user || cfg2 == user || cfgOther == user {
		t.Fatal("the worker's own config is served, not a clone")
	}
	if !rotatesOwnTicketKeys(user) {
		t.Fatal("the worker's own config got keys")
	}

	cache := tls.NewLRUClientSessionCache(4)
	client := &tls.Config{RootCAs: pair.Pool(), ServerName: "site.test", ClientSessionCache: cache}
	if testcert.Resumes(t, cfg1, client) {
		t.Fatal("the first connection resumed")
	}
	ticket, _ := cache.Get("site.test")
	if !testcert.Resumes(t, cfg2, client) {
		t.Fatal("another child of the worker did not resume its session")
	}
	cache.Put("site.test", ticket)
	if testcert.Resumes(t, cfgOther, client) {
		t.Fatal("another worker resumed the session")
	}

	// The master rotates: the config serving takes the new set, so a
	// ticket sealed under the old current key resumes while it is kept,
	// and not once it is gone.
	rotated := append(newTicketKeys(t, 1), master...)
	child2.set(rotated)
	cache.Put("site.test", ticket)
	if !testcert.Resumes(t, cfg2, client) {
		t.Fatal("a ticket under a kept key did not resume after a rotation")
	}
	child2.set(newTicketKeys(t, 4))
	cache.Put("site.test", ticket)
	if testcert.Resumes(t, cfg2, client) {
		t.Fatal("a ticket under a dropped key resumed")
	}
	if !rotatesOwnTicketKeys(user) {
		t.Fatal("the worker's own config got keys")
	}
}

// A config that disables tickets or brings its own keys is served as it
// is: the daemon does not override what its code chose.
func TestSessionTicketKeysLeaveOwnKeysAlone(t *testing.T) {
	keys := newSessionTicketKeys(newTicketKeys(t, 1))
	w := &Worker{Name: "w", ListenAddr: "ssl://127.0.0.1:4443"}
	disabled := &tls.Config{SessionTicketsDisabled: true}
	legacy := &tls.Config{SessionTicketKey: [32]byte{1}}
	set := &tls.Config{}
	set.SetSessionTicketKeys([][32]byte{{2}})
	for name, cfg := range map[string]*tls.Config{"disabled": disabled, "SessionTicketKey": legacy, "SetSessionTicketKeys": set} {
		if got := keys.serverConfig(w, cfg); got != cfg {
			t.Errorf("%s: served a clone", name)
		}
	}
	var none *sessionTicketKeys // a Process outside a daemon child
	plain := &tls.Config{}
	if none.serverConfig(w, plain) != plain {
		t.Error("without keys, a clone is served")
	}
	none.set(newTicketKeys(t, 1)) // must not panic
}

// rotatesOwnTicketKeys reads crypto/tls's unexported key slice: this
// fails if a Go release renames or retypes it, rather than letting the
// daemon override keys a config set (or never share any).
func TestRotatesOwnTicketKeys(t *testing.T) {
	cfg := &tls.Config{}
	if !rotatesOwnTicketKeys(cfg) {
		t.Fatal("a config without keys: not detected")
	}
	cfg.SetSessionTicketKeys([][32]byte{{1}})
	if rotatesOwnTicketKeys(cfg) {
		t.Fatal("keys set with SetSessionTicketKeys: not detected")
	}
	if rotatesOwnTicketKeys(cfg.Clone()) {
		t.Fatal("a clone of a config with keys: not detected")
	}
}
