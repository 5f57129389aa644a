package session

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.uber.org/zap"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// Session is one visitor's data during a request. Its methods are loop-only
// and do no I/O, except Save and Send, which store what changed on another
// goroutine. Use a Session for one request: the next request starts its own.
type Session struct {
	m    *Manager
	id   string
	data map[string]any
	// stored: the store holds id (it was loaded, or this session saved it).
	stored bool
	// dirty: data changed since it was loaded or saved.
	dirty bool
	// refresh: save and resend the cookie even if nothing changed.
	refresh bool
	// clientCookie: the client holds a cookie of ours (valid or not), and
	// clientID is its id when that names a stored session.
	clientCookie bool
	clientID     string
	// del are ids to delete from the store on the next save.
	del []string
}

// ID is the session's id: the one the client's cookie named, or a fresh one
// that the client gets with the response once the session is stored.
func (s *Session) ID() string { return s.id }

// IsNew reports whether the session is not (yet) in the store.
func (s *Session) IsNew() bool { return !s.stored }

// Get returns the value of key, or nil. See "Values" in the package
// documentation for the types a loaded session holds.
func (s *Session) Get(key string) any { return s.data[key] }

// Has reports whether key is set (to anything, nil included).
func (s *Session) Has(key string) bool {
	_, ok := s.data[key]
	return ok
}

// Set sets key to v, which must encode as JSON; Save and Send fail
// otherwise.
func (s *Session) Set(key string, v any) {
	if s.data == nil {
		s.data = make(map[string]any)
	}
	s.data[key] = v
	s.dirty = true
}

// Delete removes key.
func (s *Session) Delete(key string) {
	if _, ok := s.data[key]; ok {
		delete(s.data, key)
		s.dirty = true
	}
}

// Pull returns the value of key and removes it: a flash message.
func (s *Session) Pull(key string) any {
	v, ok := s.data[key]
	if ok {
		delete(s.data, key)
		s.dirty = true
	}
	return v
}

// All returns a copy of the data.
func (s *Session) All() map[string]any {
	out := make(map[string]any, len(s.data))
	for k, v := range s.data {
		out[k] = v
	}
	return out
}

// Flush removes every key; the session (and its id) stays.
func (s *Session) Flush() {
	if len(s.data) > 0 {
		clear(s.data)
		s.dirty = true
	}
}

// Refresh makes the next save rewrite the session, so its lifetime starts
// again, and send the cookie again with a new Max-Age, even if nothing
// changed.
func (s *Session) Refresh() { s.refresh = true }

// Regenerate gives the session a new id, keeping its data; the client gets
// the new id with the response. With deleteOld the old id is deleted from
// the store on save, so it no longer loads; without, it keeps working until
// it expires (Workerman's sessionRegenerateId default). Call it on log-in.
func (s *Session) Regenerate(deleteOld bool) {
	if deleteOld && s.stored {
		s.del = append(s.del, s.id)
	}
	s.id = NewID()
	s.stored = false
	// The data moves to the new id even if the session was unchanged.
	s.dirty = true
}

// Destroy ends the session: its data is dropped, its id deleted from the
// store on save and the client's cookie expired. Setting data afterwards
// starts a new session with a new id.
func (s *Session) Destroy() {
	if s.stored {
		s.del = append(s.del, s.id)
	}
	s.id = NewID()
	s.data = nil
	s.stored = false
	s.dirty = false
	s.refresh = false
}

// plan is what a save has to do, decided on the loop.
type plan struct {
	id     string
	data   []byte // nil: nothing to save
	del    []string
	cookie *http.Cookie
}

func (s *Session) plan() (plan, error) {
	p := plan{id: s.id, del: s.del}
	save := len(s.data) > 0 && !s.stored || s.stored && (s.dirty || s.refresh)
	if save {
		var err error
		if p.data, err = json.Marshal(s.dataOrEmpty()); err != nil {
			return plan{}, fmt.Errorf("session: encode: %w", err)
		}
	}
	switch {
	case (save || s.stored) && (s.clientID != s.id || s.refresh):
		c := s.m.cookie(s.id)
		p.cookie = &c
	case !save && !s.stored && s.clientCookie:
		// The client holds an id that names nothing now (destroyed,
		// regenerated away, expired or invalid): expiring it spares the
		// store a lookup on each of its next requests.
		c := s.m.cookie("")
		p.cookie = &c
	}
	return p, nil
}

func (s *Session) dataOrEmpty() map[string]any {
	if s.data == nil {
		return map[string]any{}
	}
	return s.data
}

// saved records a successful save of p.
func (s *Session) saved(p plan) {
	if p.data != nil && p.id == s.id {
		s.stored = true
		s.dirty = false
		s.refresh = false
	}
	s.del = s.del[len(p.del):]
	if p.cookie != nil {
		s.clientCookie = p.cookie.MaxAge >= 0
		s.clientID = ""
		if s.clientCookie {
			s.clientID = p.cookie.Value
		}
	}
}

// Save stores what changed, on another goroutine, and then calls done on
// the loop with the Set-Cookie field the client needs now (nil if none) or
// the error. With nothing to store, done runs before Save returns. Send is
// Save for an HTTP response; Save is for protocols that carry the id some
// other way. Loop-only.
func (s *Session) Save(loop *workerman.EventLoop, done func(cookie *http.Cookie, err error)) {
	p, err := s.plan()
	if err != nil {
		done(nil, err)
		return
	}
	if p.data == nil && len(p.del) == 0 {
		s.saved(p)
		done(p.cookie, nil)
		return
	}
	m, store, lifetime := s.m, s.m.store(), s.m.lifetime()
	workerman.Async(loop, func() (struct{}, error) {
		ctx, cancel := m.context()
		defer cancel()
		// Save before deleting: if the save fails, the old id still works.
		if p.data != nil {
			if err := store.Save(ctx, p.id, p.data, lifetime); err != nil {
				return struct{}{}, err
			}
		}
		for _, id := range p.del {
			if err := store.Delete(ctx, id); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	}, func(_ struct{}, err error) {
		if err != nil {
			done(nil, err)
			return
		}
		s.saved(p)
		if p.data != nil {
			m.maybeGC(loop)
		}
		done(p.cookie, nil)
	})
}

// Send saves the session if needed (on another goroutine; see Save), adds
// the Set-Cookie field the client needs to resp and sends resp on c. When
// saving fails, the client gets a 500 instead of resp, since resp may
// promise something the session no longer remembers, and the error goes to
// the Manager's OnError or else to the loop's logger. Loop-only.
func (s *Session) Send(c *workerman.Connection, resp *http.Response) {
	s.Save(c.Loop(), func(cookie *http.Cookie, err error) {
		if err != nil {
			if s.m.OnError != nil {
				s.m.OnError(c, err)
			} else {
				c.Loop().Logger().Error("session save failed; answered 500", zap.Error(err))
			}
			c.SendValue(&http.Response{
				Status: 500,
				Header: http.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}},
				Body:   []byte("500 Internal Server Error\n"),
			})
			return
		}
		if cookie != nil {
			resp.Cookies = append(resp.Cookies, *cookie)
		}
		c.SendValue(resp)
	})
}

// Int returns the value of key as an integer, whether it was Set as a Go
// integer or loaded as a JSON number; ok is false when the key is absent or
// holds something else (a float with a fraction included).
func (s *Session) Int(key string) (n int64, ok bool) {
	switch v := s.data[key].(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint:
		return int64(v), uint64(v) <= math.MaxInt64 // uint may be 32 bits wide
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case float32:
		return floatInt(float64(v))
	case float64:
		return floatInt(v)
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		if f, err := v.Float64(); err == nil {
			return floatInt(f)
		}
	}
	return 0, false
}

func floatInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// Float returns the value of key as a float64 for any number.
func (s *Session) Float(key string) (float64, bool) {
	switch v := s.data[key].(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	if n, ok := s.Int(key); ok {
		return float64(n), true
	}
	return 0, false
}

// String returns the value of key if it is a string.
func (s *Session) String(key string) (string, bool) {
	v, ok := s.data[key].(string)
	return v, ok
}

// Bool returns the value of key if it is a bool.
func (s *Session) Bool(key string) (bool, bool) {
	v, ok := s.data[key].(bool)
	return v, ok
}

// Decode stores the value of key into dst (a pointer) through JSON, as
// json.Unmarshal would: the way back to a struct that was Set before a save.
// An absent key leaves dst alone and returns nil.
func (s *Session) Decode(key string, dst any) error {
	v, ok := s.data[key]
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: decode %s: %w", strconv.Quote(key), err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("session: decode %s: %w", strconv.Quote(key), err)
	}
	return nil
}
