package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// Workerman's defaults (Session::$name, $lifetime, $cookiePath,
// $gcProbability).
const (
	DefaultName          = "PHPSID"
	DefaultLifetime      = 1440 * time.Second
	DefaultCookiePath    = "/"
	DefaultGCProbability = 1.0 / 20000
	// DefaultStoreTimeout bounds one storage call, so a store that hangs
	// costs a goroutine for a while, not forever.
	DefaultStoreTimeout = 10 * time.Second
)

// Manager starts and saves the sessions of a worker. NewManager fills in
// Workerman's defaults; change fields before the worker serves, not while
// requests are in flight. In a Manager built some other way, empty Name,
// Lifetime, CookiePath, StoreTimeout, Store and a zero GCProbability take
// their defaults too, but the booleans are used as they are (so HTTPOnly is
// off in a Manager{} literal).
type Manager struct {
	// Name is the cookie's name (PHPSID).
	Name string
	// Lifetime is how long a session lives after it was last saved; the
	// cookie's Max-Age too (1440 s).
	Lifetime time.Duration
	// CookiePath, Domain, Secure, HTTPOnly and SameSite ("Strict", "Lax",
	// "None" or "") are the cookie's attributes. NewManager sets the path
	// "/" and HTTPOnly, which keeps the id from scripts.
	CookiePath string
	Domain     string
	Secure     bool
	HTTPOnly   bool
	SameSite   string
	// Store keeps the sessions; a FileStore in DefaultFileDir when nil.
	Store Store
	// GCProbability is the chance that a save is followed by a Store.GC
	// on its own goroutine (1/20000); negative never collects.
	GCProbability float64
	// StoreTimeout bounds each storage call (10 s).
	StoreTimeout time.Duration
	// OnError, when set, hears of storage failures that Send answered
	// with a 500 and of garbage collections that failed, instead of the
	// loop's logger. It runs on the loop; c is nil for a failed GC.
	OnError func(c *workerman.Connection, err error)
}

// NewManager returns a Manager with Workerman's defaults that keeps
// sessions in store (a FileStore in DefaultFileDir when nil).
func NewManager(store Store) *Manager {
	return &Manager{
		Name:          DefaultName,
		Lifetime:      DefaultLifetime,
		CookiePath:    DefaultCookiePath,
		HTTPOnly:      true,
		Store:         store,
		GCProbability: DefaultGCProbability,
		StoreTimeout:  DefaultStoreTimeout,
	}
}

var defaultStore = &FileStore{}

func (m *Manager) name() string {
	if m.Name == "" {
		return DefaultName
	}
	return m.Name
}

func (m *Manager) lifetime() time.Duration {
	if m.Lifetime <= 0 {
		return DefaultLifetime
	}
	return m.Lifetime
}

func (m *Manager) store() Store {
	if m.Store == nil {
		return defaultStore
	}
	return m.Store
}

func (m *Manager) gcProbability() float64 {
	if m.GCProbability == 0 {
		return DefaultGCProbability
	}
	return m.GCProbability
}

func (m *Manager) context() (context.Context, context.CancelFunc) {
	d := m.StoreTimeout
	if d <= 0 {
		d = DefaultStoreTimeout
	}
	return context.WithTimeout(context.Background(), d)
}

// cookie is the Set-Cookie field that hands id to the client, or that
// deletes the client's cookie when id is empty.
func (m *Manager) cookie(id string) http.Cookie {
	c := http.Cookie{
		Name:     m.name(),
		Value:    id,
		MaxAge:   int(m.lifetime() / time.Second),
		Path:     m.CookiePath,
		Domain:   m.Domain,
		Secure:   m.Secure,
		HTTPOnly: m.HTTPOnly,
		SameSite: m.SameSite,
	}
	if c.Path == "" {
		c.Path = DefaultCookiePath
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 1
	}
	if id == "" {
		c.MaxAge = -1
	}
	return c
}

// Start reads the session cookie of req and calls done on c's loop with the
// session: the stored one when the cookie names a session the store holds,
// else a new, empty one with a fresh id (see "Ids and session fixation" in
// the package documentation). Storage runs on another goroutine; when there
// is nothing to load (no valid cookie) done runs before Start returns.
//
// err is a storage failure (the store is down, not "no such session"); s is
// then nil, and the handler decides what to answer. Loop-only.
func (m *Manager) Start(c *workerman.Connection, req *http.Request, done func(s *Session, err error)) {
	m.Open(c.Loop(), req.Cookie(m.name()), done)
}

// Open is Start for an id read some other way (a websocket handshake, a
// token): it loads the session named id, or starts a new one when id is
// invalid or unknown. A non-empty id counts as a cookie the client holds,
// so a Send that stores nothing under it expires that cookie. Loop-only.
func (m *Manager) Open(loop *workerman.EventLoop, id string, done func(s *Session, err error)) {
	if !ValidID(id) {
		done(m.fresh(id != ""), nil)
		return
	}
	store := m.store()
	type loaded struct {
		data    map[string]any
		found   bool
		corrupt error
	}
	workerman.Async(loop, func() (loaded, error) {
		ctx, cancel := m.context()
		defer cancel()
		b, err := store.Load(ctx, id)
		if err != nil || b == nil {
			return loaded{}, err
		}
		// Decoding here keeps it off the loop too.
		data, err := decode(b)
		if err != nil {
			return loaded{corrupt: err}, nil
		}
		return loaded{data: data, found: true}, nil
	}, func(l loaded, err error) {
		if err != nil {
			done(nil, fmt.Errorf("session: load %.8s…: %w", id, err))
			return
		}
		if l.corrupt != nil {
			// The client cannot repair it, so failing would fail every
			// request it makes; a new session replaces it.
			loop.Logger().Warn("session data unreadable; starting a new session",
				zap.String("id_prefix", id[:8]), zap.Error(l.corrupt))
		}
		if !l.found {
			done(m.fresh(true), nil)
			return
		}
		done(&Session{m: m, id: id, data: l.data, stored: true, clientID: id, clientCookie: true}, nil)
	})
}

func (m *Manager) fresh(clientCookie bool) *Session {
	return &Session{m: m, id: NewID(), clientCookie: clientCookie}
}

func decode(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var data map[string]any
	if err := d.Decode(&data); err != nil {
		return nil, fmt.Errorf("decode session data: %w", err)
	}
	return data, nil
}

// maybeGC starts a collection with the Manager's probability.
func (m *Manager) maybeGC(loop *workerman.EventLoop) {
	p := m.gcProbability()
	if p <= 0 || rand.Float64() >= p {
		return
	}
	store, lifetime := m.store(), m.lifetime()
	workerman.Async(loop, func() (struct{}, error) {
		// A directory of many files may take long; give GC more than one
		// call's time, but not forever.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		return struct{}{}, store.GC(ctx, lifetime)
	}, func(_ struct{}, err error) {
		if err == nil {
			return
		}
		if m.OnError != nil {
			m.OnError(nil, err)
			return
		}
		loop.Logger().Error("session garbage collection failed", zap.Error(err))
	})
}
