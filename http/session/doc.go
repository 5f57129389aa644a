// Package session keeps per-visitor data across HTTP requests, as Workerman's
// Session does: a cookie (PHPSID by default) names a session whose data, a
// map of JSON values, lives in a Store — files by default, Redis as an
// option.
//
// The event loop never waits on storage. Manager.Start reads the cookie and
// loads the session on another goroutine (workerman.Async), then calls back
// on the loop; Session.Send saves what changed the same way and only then
// sends the response, with the Set-Cookie field the client needs. A session
// nobody changed costs no storage I/O at all when sent.
//
//	m := session.NewManager(&session.FileStore{})
//	w.OnMessage = func(c *workerman.Connection, msg workerman.Message) {
//		req := msg.Value.(*http.Request)
//		m.Start(c, req, func(s *session.Session, err error) {
//			if err != nil {
//				c.SendValue(&http.Response{Status: 500})
//				return
//			}
//			n, _ := s.Int("visits")
//			s.Set("visits", n+1)
//			s.Send(c, &http.Response{Body: []byte(strconv.FormatInt(n+1, 10))})
//		})
//	}
//
// # Ids and session fixation
//
// An id is 32 random bytes from crypto/rand in hex (64 characters), which
// meets Workerman's rule for valid ids, [a-zA-Z0-9,-]{16,256}. An incoming
// cookie is used only if it is valid and names a session the store holds:
// a well-formed id the store does not know gets a fresh id, so an attacker
// cannot plant an id of their choosing in a victim's browser and wait for
// it to be logged in. Call Regenerate(true) when privileges change (log-in)
// so that an id seen before the change is useless after it.
//
// # When a session is stored and the cookie set
//
// A new session is stored, and its cookie sent, only once it holds data, so
// clients that never log in or add anything (crawlers, health checks) create
// no files or keys. A loaded session is saved when it was changed (Set,
// Delete, Pull of a present key, Flush), refreshed or regenerated; its
// cookie is sent again only when its id changed or on Refresh. A destroyed
// session is deleted and its cookie expired.
//
// The store's lifetime counts from the last save, as in Workerman (whose
// cookie also carries Max-Age from the session's creation): a session that
// is only read expires Lifetime after it was last written. Call Refresh on
// requests that should extend it.
//
// # Values
//
// Data is encoded as JSON when saved. Get returns a value as it was Set
// during the current request, but in its JSON form after a load: objects as
// map[string]any, arrays as []any and numbers as json.Number, which keeps
// 64-bit integers (user ids) exact where float64 would round them. Int,
// Float, String and Bool read a value in either form; Decode turns one into
// a struct.
//
// Sessions are not locked: two concurrent requests of one visitor that both
// change the session race, and the later save wins, as with Workerman.
package session
