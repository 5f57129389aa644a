// Package push is the stock "push" handler: an HTTP API through which any
// program (PHP-FPM code included, with a plain HTTP call) sends to the
// uids, groups and workers of the daemons sharing a channel backend, as
// GatewayWorker's Gateway::sendToUid does from another project (the
// Workerman manual's FAQ 1.16.17).
//
//	[[worker]]
//	name    = "push"
//	listen  = "http://127.0.0.1:8090"    # or https://
//	handler = "push"
//	[worker.options]
//	channel = "redis://10.0.0.5:6379"    # the backend the websocket workers share
//	token   = "…"                        # required unless listen is loopback
//	workers = ["chat"]                   # the workers /broadcast reaches
//	max_body = 1048576                   # bytes; a larger body is answered 413
//
// The API (JSON bodies, Content-Type: application/json; data_b64, standard
// base64, instead of data for bytes that are not text):
//
//	POST /send_to_uid    {"uid":"u1","data":"text"}      → {"ok":true}
//	POST /send_to_group  {"group":"g","data":"text"}     → {"ok":true}
//	POST /broadcast      {"data":"text"}                 → {"ok":true}
//	                     {"worker":"chat","data":"text"} (one worker of those)
//	POST /close_uid      {"uid":"u1"}                    → {"ok":true}
//	GET  /online?uid=u1                                  → {"online":true}
//
// Uids and groups are one namespace per backend, so the API reaches the
// connections of every worker, process and host on it. A broadcast goes to
// the event "all:<worker name>" of each worker named in the body or in the
// workers option. A 200 means the backend took the send (queued while it
// reconnects); delivery is not confirmed, as with GatewayWorker. A send the
// backend refuses (its queue full) is answered 503. /online answers true as
// soon as a process holding the uid says so, false after
// workerman.OnlineQueryTimeout (1 s) without an answer.
//
// Errors are JSON too, {"error":"…"}: 400 for a malformed body, a missing
// or misplaced field or another Content-Type, 401 without
// "Authorization: Bearer <token>" (when a token is set; compared in
// constant time), 404 for another path, 405 for another method, 413 for a
// body over max_body (the worker's max_package_size, 10 MiB by default,
// bounds what is read at all). Refused requests are counted (Stats) and
// logged at most once a second with the number suppressed.
//
// A push API open to the network would let anyone write to every user and
// disconnect them, so a worker that listens on an address that is not
// loopback (nor a Unix socket) needs a token: it does not start without
// one.
//
// In a code-first program, Targets are workers of the same process the API
// sends through (their SendToUID, SendToGroup, SendToAll, CloseUID,
// IsUIDOnline), each reaching further through its own Channel; without
// them, the API needs a channel, since it would reach nothing: a stock
// daemon's process serves one worker.
package push

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("push", func() workerman.Handler { return &Handler{} })
}

// DefaultMaxBody is the largest request body by default.
const DefaultMaxBody = 1 << 20

const logInterval = time.Second

// Handler serves the push API. Its exported fields with a toml tag are the
// options of [worker.options].
type Handler struct {
	// Channel is the backend URL (frame://, unix://, redis://, nats://)
	// shared with the workers the API reaches.
	Channel string `toml:"channel"`
	// Token, when set, is required as "Authorization: Bearer <token>".
	// Required when the worker does not listen on loopback.
	Token string `toml:"token"`
	// Workers are the names of the workers a /broadcast reaches when its
	// body names none.
	Workers []string `toml:"workers"`
	// MaxBody bounds a request's body, in bytes; DefaultMaxBody when 0.
	MaxBody int `toml:"max_body"`

	// Targets (code-first only) are workers of the API's own process to
	// send through instead of the API's own client of Channel.
	Targets []*workerman.Worker `toml:"-"`

	api *api
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// Validate checks the options.
func (h *Handler) Validate() error { return h.validate(false) }

func (h *Handler) validate(hasChannel bool) error {
	if h.MaxBody < 0 {
		return fmt.Errorf("max_body = %d: want 0 (the default, %d) or more", h.MaxBody, DefaultMaxBody)
	}
	for i := 0; i < len(h.Token); i++ {
		if c := h.Token[i]; c <= ' ' || c > '~' {
			return errors.New("token: only printable ASCII without spaces can travel in an Authorization header")
		}
	}
	for _, n := range h.Workers {
		if n == "" {
			return errors.New(`workers: an empty worker name`)
		}
	}
	if h.Channel != "" {
		return channel.CheckURL(h.Channel)
	}
	if len(h.Targets) == 0 && !hasChannel {
		return errors.New(`the push handler needs channel = "redis://…" (the backend its workers share): without one it reaches no connection`)
	}
	return nil
}

// Stats are the handler's counters in this process.
type Stats struct {
	OK           uint64 // requests answered 200
	Malformed    uint64 // answered 400, 404, 405 or 413
	Unauthorized uint64 // answered 401
	Failed       uint64 // sends the backend refused (503)
}

// Stats reads the counters of this process. Loop-only.
func (h *Handler) Stats() Stats {
	if h.api == nil {
		return Stats{}
	}
	return h.api.stats
}

// Attach serves the API on w, an http:// or https:// worker.
func (h *Handler) Attach(w *workerman.Worker) error {
	if p := w.Protocol(); p != "http" {
		return fmt.Errorf("the push handler serves an http:// or https:// worker, not %s", p)
	}
	if h.Channel != "" && w.Channel == nil {
		w.Channel = channel.Backend(h.Channel, channel.Options{})
	}
	if err := h.validate(w.Channel != nil); err != nil {
		return err
	}
	if h.Token == "" && w.SocketPath() == "" && w.Transport != "unix" && !loopback(w.ListenAddr) {
		return fmt.Errorf("push: %s is not a loopback address: set a token, or anyone who reaches it writes to every user", w.ListenAddr)
	}
	a := &api{h: h, w: w, maxBody: h.MaxBody}
	if a.maxBody == 0 {
		a.maxBody = DefaultMaxBody
	}
	if h.Token != "" {
		sum := sha256.Sum256([]byte(h.Token))
		a.tokenSum = &sum
	}
	h.api = a
	userStart := w.OnWorkerStart
	w.OnWorkerStart = func(w *workerman.Worker) {
		a.log = w.Loop().Logger().With(zap.String("worker", w.Name))
		if userStart != nil {
			userStart(w)
		}
	}
	w.OnMessage = a.serve
	return nil
}

// loopback reports whether a listen address's host is a loopback IP.
func loopback(listen string) bool {
	_, rest, ok := strings.Cut(listen, "://")
	if !ok {
		return false
	}
	host, _, err := net.SplitHostPort(rest)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// api is one process's state; loop-only.
type api struct {
	h        *Handler
	w        *workerman.Worker
	log      *zap.Logger
	tokenSum *[sha256.Size]byte
	maxBody  int

	stats      Stats
	lastLog    time.Time
	suppressed int
}

// request is a POST body; pointers tell a field's absence from "".
type request struct {
	UID     *string `json:"uid"`
	Group   *string `json:"group"`
	Worker  *string `json:"worker"`
	Data    *string `json:"data"`
	DataB64 *string `json:"data_b64"`
}

// The fixed answers, shared: encoding a Response only reads it.
var (
	okResp      = jsonResp(200, []byte(`{"ok":true}`))
	onlineTrue  = jsonResp(200, []byte(`{"online":true}`))
	onlineFalse = jsonResp(200, []byte(`{"online":false}`))
)

func jsonResp(status int, body []byte) *http.Response {
	return &http.Response{Status: status, Header: http.Header{{Name: "Content-Type", Value: "application/json"}}, Body: body}
}

func (a *api) serve(c *workerman.Connection, m workerman.Message) {
	req, ok := m.Value.(*http.Request)
	if !ok {
		return
	}
	if !a.authorized(req) {
		a.refuse(c, req, 401, "missing or wrong bearer token", http.Field{Name: "WWW-Authenticate", Value: "Bearer"})
		return
	}
	path := req.Path()
	method := "POST"
	switch path {
	case "/send_to_uid", "/send_to_group", "/broadcast", "/close_uid":
	case "/online":
		method = "GET"
	default:
		a.refuse(c, req, 404, "no such endpoint: "+path)
		return
	}
	if req.Method() != method {
		a.refuse(c, req, 405, path+" takes "+method, http.Field{Name: "Allow", Value: method})
		return
	}
	if method == "GET" {
		uid := req.Get("uid")
		if uid == "" {
			a.refuse(c, req, 400, "/online needs ?uid=")
			return
		}
		a.online(c, uid)
		return
	}
	body, status, why := a.decode(req, path)
	if status != 0 {
		a.refuse(c, req, status, why)
		return
	}
	var err error
	switch path {
	case "/send_to_uid":
		err = a.each(func(t *workerman.Worker) error { return t.SendToUID(*body.UID, body.data) })
	case "/send_to_group":
		err = a.each(func(t *workerman.Worker) error { return t.SendToGroup(*body.Group, body.data) })
	case "/close_uid":
		err = a.each(func(t *workerman.Worker) error { return t.CloseUID(*body.UID) })
	case "/broadcast":
		names := a.h.Workers
		if body.Worker != nil {
			names = []string{*body.Worker}
		}
		if len(names) == 0 && len(a.h.Targets) == 0 {
			a.refuse(c, req, 400, `/broadcast: name a worker ("worker" in the body, or workers in [worker.options])`)
			return
		}
		err = a.broadcast(names, body.data)
	}
	if err != nil {
		a.stats.Failed++
		a.warn("push: the backend refused a send", zap.String("path", path), zap.Error(err))
		a.reply(c, 503, err.Error())
		return
	}
	a.stats.OK++
	_, _ = c.SendValue(okResp)
}

// authorized compares SHA-256 digests, so the comparison takes the same
// time whatever the length of what was sent.
func (a *api) authorized(req *http.Request) bool {
	if a.tokenSum == nil {
		return true
	}
	scheme, cred, _ := strings.Cut(req.Header("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

// body is a checked POST body with its data decoded.
type body struct {
	request
	data []byte
}

// fields says which fields each endpoint takes; "data" stands for data or
// data_b64, and a field after "?" is optional.
var fields = map[string][]string{
	"/send_to_uid":   {"uid", "data"},
	"/send_to_group": {"group", "data"},
	"/broadcast":     {"data", "?worker"},
	"/close_uid":     {"uid"},
}

// decode reads and checks the body of a POST to path; a status other than
// 0 refuses it, for the reason why.
func (a *api) decode(req *http.Request, path string) (b body, status int, why string) {
	raw := req.RawBody()
	if len(raw) > a.maxBody {
		return b, 413, fmt.Sprintf("the body has %d bytes, over max_body = %d", len(raw), a.maxBody)
	}
	ct := req.ContentType()
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return b, 400, fmt.Sprintf("Content-Type %q: want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b.request); err != nil {
		return b, 400, "the body is not a JSON object of the API's fields: " + err.Error()
	}
	if dec.More() {
		return b, 400, "the body has more after its JSON object"
	}
	present := map[string]bool{
		"uid": b.UID != nil, "group": b.Group != nil, "worker": b.Worker != nil,
		"data": b.Data != nil || b.DataB64 != nil,
	}
	want := fields[path]
	for _, f := range want {
		opt := strings.HasPrefix(f, "?")
		f = strings.TrimPrefix(f, "?")
		if !present[f] && !opt {
			if f == "data" {
				return b, 400, path + " needs data (or data_b64)"
			}
			return b, 400, path + " needs " + f
		}
		delete(present, f)
	}
	for f, here := range present {
		if here {
			return b, 400, fmt.Sprintf("%s takes no %s", path, f)
		}
	}
	for _, s := range []*string{b.UID, b.Group, b.Worker} {
		if s != nil && *s == "" {
			return b, 400, "an empty uid, group or worker"
		}
	}
	switch {
	case b.Data != nil && b.DataB64 != nil:
		return b, 400, "data and data_b64 together: send one"
	case b.Data != nil:
		b.data = []byte(*b.Data)
	case b.DataB64 != nil:
		d, err := base64.StdEncoding.DecodeString(*b.DataB64)
		if err != nil {
			return b, 400, "data_b64 is not standard base64: " + err.Error()
		}
		b.data = d
	}
	return b, 0, ""
}

// each sends through every target, or through the API's own worker and
// its client of the backend.
func (a *api) each(send func(t *workerman.Worker) error) error {
	if len(a.h.Targets) == 0 {
		return send(a.w)
	}
	var errs []error
	for _, t := range a.h.Targets {
		errs = append(errs, send(t))
	}
	return errors.Join(errs...)
}

func (a *api) broadcast(names []string, data []byte) error {
	if len(a.h.Targets) > 0 {
		var errs []error
		for _, t := range a.h.Targets {
			if len(names) == 0 || slices.Contains(names, t.Name) {
				errs = append(errs, t.SendToAll(data))
			}
		}
		return errors.Join(errs...)
	}
	for _, n := range names {
		if err := a.w.SendToWorker(n, data); err != nil {
			return fmt.Errorf("broadcast to %s: %w", n, err)
		}
	}
	return nil
}

// online answers whether uid is bound anywhere: true at the first target
// that says so, false once all have said no.
func (a *api) online(c *workerman.Connection, uid string) {
	targets := a.h.Targets
	if len(targets) == 0 {
		targets = []*workerman.Worker{a.w}
	}
	left, answered := len(targets), false
	loop := a.w.Loop()
	defer func() {
		if left == 0 && !answered {
			answered = true
			a.stats.OK++
			_, _ = c.SendValue(onlineFalse)
		}
	}()
	for _, t := range targets {
		if t.Loop() == nil {
			// Not running: it holds nobody, and would never answer.
			left--
			continue
		}
		t.IsUIDOnline(uid, func(online bool) {
			// A target may run on another loop: answer on ours.
			loop.Post(func() {
				left--
				if answered || (!online && left > 0) {
					return
				}
				answered = true
				a.stats.OK++
				if c.Status() == workerman.StatusClosed {
					return
				}
				if online {
					_, _ = c.SendValue(onlineTrue)
				} else {
					_, _ = c.SendValue(onlineFalse)
				}
			})
		})
	}
}

// refuse answers a request the API does not take, counting and logging it.
func (a *api) refuse(c *workerman.Connection, req *http.Request, status int, why string, extra ...http.Field) {
	if status == 401 {
		a.stats.Unauthorized++
	} else {
		a.stats.Malformed++
	}
	a.warn("push: request refused", zap.Int("status", status), zap.String("why", why),
		zap.String("method", req.Method()), zap.String("path", req.Path()),
		zap.String("client", req.ClientIP().String()))
	a.reply(c, status, why, extra...)
}

func (a *api) reply(c *workerman.Connection, status int, why string, extra ...http.Field) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{why}) // a string: cannot fail
	r := jsonResp(status, b)
	r.Header = append(r.Header, extra...)
	_, _ = c.SendValue(r)
}

// warn logs at most once per logInterval, with the number of messages
// suppressed since the last one.
func (a *api) warn(msg string, fields ...zap.Field) {
	now := time.Now()
	if now.Sub(a.lastLog) < logInterval {
		a.suppressed++
		return
	}
	if a.log != nil {
		a.log.Warn(msg, append(fields, zap.Int("suppressed", a.suppressed))...)
	}
	a.lastLog, a.suppressed = now, 0
}
