package workerman

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"go.uber.org/zap"

	"github.com/workermand/workermand/websocket"
)

// This file is GatewayWorker's uids and groups (bindUid, joinGroup,
// sendToUid, sendToGroup, sendToAll, isUidOnline) on a Worker: a
// connection is bound to a uid and joins groups; a send to a uid, a group
// or all reaches the connections of every process of every daemon that
// shares the worker's channel backend (Worker.Channel), or of this process
// when the worker has none.
//
// How a send travels. The process that sends delivers to its own
// connections at once, then publishes on the backend the event
// "uid:<uid>", "group:<group>" or "all:<worker name>". A process is
// subscribed to "uid:u" and "group:g" only while one of its connections
// holds u or g, so the backend fans a send out to the processes that need
// it and no others; "all:<worker name>" is subscribed by every process of
// the worker. A process skips the events it published itself (they carry
// its origin), since it delivered them already: each connection gets a
// send once. Delivering locally first keeps this process's clients served
// while the backend is away.
//
// Why the backend is an interface set by a function: package channel
// imports this one (its clients run on an EventLoop), so this one cannot
// import it. Worker.Channel is a function the program or a handler sets,
// channel.Backend(url, options) being the one we ship; the Process calls
// it once per worker when it starts, so every process of the daemon has
// its own client on its own loop.

// Bus is what a worker's uids, groups and SendToAll need of a channel
// client: package channel's Client has these methods, so the Client that
// channel.Backend connects is a Bus. Published values are strings and
// map[string]any; a handler receives strings, and arrays as values with a
// Get(key any) (any, bool) method (phpserialize.Array), as a channel
// client decodes them.
type Bus interface {
	On(event string, fn func(data any))
	Unsubscribe(events ...string)
	Publish(data any, events ...string) error
	Close()
}

// OnlineQueryTimeout is how long IsUIDOnline waits for another process to
// say that it holds a uid before answering false.
const OnlineQueryTimeout = time.Second

// ErrNotRunning is returned by the worker-level sends of a worker whose
// process has not started.
var ErrNotRunning = errors.New("workerman: the worker's process is not running")

// cluster is one worker's uids and groups in this process, and its client
// of the channel backend. Loop-only.
type cluster struct {
	bus Bus // nil: this process only
	// origin names this client on the backend: the events it published
	// come back to it marked with it, and answers to its IsUIDOnline
	// queries go to the event "proc:<origin>".
	origin   string
	uids     map[string]map[*Connection]struct{}
	groups   map[string]map[*Connection]struct{}
	queries  map[string]*onlineQuery
	stopping bool // the process stops: leaving unsubscribes nothing
}

// onlineQuery is an IsUIDOnline waiting for an answer; the callers asking
// about one uid meanwhile share it.
type onlineQuery struct {
	fns   []func(bool)
	timer TimerID
}

// membership is what a connection joined; nil until it binds or joins.
type membership struct {
	uid    string
	groups []string
}

// Names of the events on the backend, one namespace per backend.
func uidEvent(uid string) string     { return "uid:" + uid }
func groupEvent(group string) string { return "group:" + group }
func allEvent(worker string) string  { return "all:" + worker }
func procEvent(origin string) string { return "proc:" + origin }

// connectChannel connects w's process to its backend, when it has one.
// Loop-only; before OnWorkerStart.
func (w *Worker) connectChannel(loop *EventLoop) error {
	if w.Channel == nil || w.cluster.bus != nil {
		return nil
	}
	bus, err := w.Channel(loop)
	if err != nil {
		return fmt.Errorf("worker %q: channel: %w", w.Name, err)
	}
	if bus == nil {
		return fmt.Errorf("worker %q: channel: the Channel function returned no client", w.Name)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	w.cluster.bus, w.cluster.origin = bus, hex.EncodeToString(b[:])
	bus.On(allEvent(w.Name), func(data any) { w.fromBus(allEvent(w.Name), data) })
	bus.On(procEvent(w.cluster.origin), w.answer)
	return nil
}

// stopChannel stops unsubscribing as connections leave: the process is
// going and its client with it. Loop-only.
func (w *Worker) stopChannel() { w.cluster.stopping = true }

// closeChannel closes the backend client; after the loop ended, or when a
// run-time Listen fails.
func (w *Worker) closeChannel() {
	if w.cluster.bus != nil {
		w.cluster.bus.Close()
		w.cluster.bus = nil
	}
}

// BindUID binds c to uid (GatewayWorker's Gateway::bindUid): sends to uid
// from any process sharing the worker's channel backend reach c. A uid may
// have many connections; a connection has one uid, so binding another one
// unbinds the first, and "" unbinds. A connection leaves its uid and
// groups when it closes, before its OnClose, which still reads them with
// UID and Groups. It does nothing on a closed connection, an outbound one
// or a UDP worker's. Loop-only.
func (c *Connection) BindUID(uid string) {
	if !c.canJoin("BindUID") {
		return
	}
	m := c.membership()
	if m.uid == uid {
		return
	}
	if m.uid != "" {
		c.worker.leave(&c.worker.cluster.uids, uidEvent(m.uid), m.uid, c)
	}
	m.uid = uid
	if uid != "" {
		c.worker.join(&c.worker.cluster.uids, uidEvent(uid), uid, c)
	}
}

// UnbindUID unbinds c from its uid, if any. Loop-only.
func (c *Connection) UnbindUID() { c.BindUID("") }

// UID is the uid c is bound to, "" if none. Loop-only.
func (c *Connection) UID() string {
	if c.member == nil {
		return ""
	}
	return c.member.uid
}

// JoinGroup adds c to group (GatewayWorker's Gateway::joinGroup): sends to
// group from any process sharing the worker's channel backend reach c.
// Joining a group twice is joining it once. Loop-only.
func (c *Connection) JoinGroup(group string) {
	if !c.canJoin("JoinGroup") {
		return
	}
	m := c.membership()
	if slices.Contains(m.groups, group) {
		return
	}
	m.groups = append(m.groups, group)
	c.worker.join(&c.worker.cluster.groups, groupEvent(group), group, c)
}

// LeaveGroup removes c from group. Loop-only.
func (c *Connection) LeaveGroup(group string) {
	if c.member == nil || c.worker == nil {
		return
	}
	c.worker.mustOnLoop("LeaveGroup")
	i := slices.Index(c.member.groups, group)
	if i < 0 {
		return
	}
	c.member.groups = slices.Delete(c.member.groups, i, i+1)
	c.worker.leave(&c.worker.cluster.groups, groupEvent(group), group, c)
}

// Groups are the groups c is in, in the order it joined them. Loop-only.
func (c *Connection) Groups() []string {
	if c.member == nil {
		return nil
	}
	return slices.Clone(c.member.groups)
}

// canJoin reports whether c can bind a uid or join a group.
func (c *Connection) canJoin(method string) bool {
	if c.worker == nil || c.worker.isUDP() {
		return false
	}
	c.worker.mustOnLoop(method)
	// A closed connection has left already; joining now would keep it
	// for ever.
	return c.Status() != StatusClosed
}

func (c *Connection) membership() *membership {
	if c.member == nil {
		c.member = &membership{}
	}
	return c.member
}

// forget takes a closing (or moving) connection out of its uid and groups.
// Its membership stays readable (UID, Groups) for OnClose. Loop-only.
func (w *Worker) forget(c *Connection) {
	m := c.member
	if m == nil {
		return
	}
	if m.uid != "" {
		w.leave(&w.cluster.uids, uidEvent(m.uid), m.uid, c)
	}
	for _, g := range m.groups {
		w.leave(&w.cluster.groups, groupEvent(g), g, c)
	}
}

// join adds c to the set of key, subscribing to event when c is the first
// of this process.
func (w *Worker) join(sets *map[string]map[*Connection]struct{}, event, key string, c *Connection) {
	if *sets == nil {
		*sets = map[string]map[*Connection]struct{}{}
	}
	set := (*sets)[key]
	if set == nil {
		set = map[*Connection]struct{}{}
		(*sets)[key] = set
		if w.cluster.bus != nil {
			w.cluster.bus.On(event, func(data any) { w.fromBus(event, data) })
		}
	}
	set[c] = struct{}{}
}

// leave removes c from the set of key, unsubscribing from event when c was
// the last of this process.
func (w *Worker) leave(sets *map[string]map[*Connection]struct{}, event, key string, c *Connection) {
	set := (*sets)[key]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) > 0 {
		return
	}
	delete(*sets, key)
	if w.cluster.bus != nil && !w.cluster.stopping {
		w.cluster.bus.Unsubscribe(event)
	}
}

// SendToUID sends data to every connection bound to uid, in every process
// sharing the worker's channel backend (GatewayWorker's
// Gateway::sendToUid), each through its protocol: a websocket text frame
// (a binary one when data is not UTF-8), a text line. This process's
// connections get it at once; the error is the backend's, for the others.
// Safe from any goroutine (data is copied).
func (w *Worker) SendToUID(uid string, data []byte) error {
	return w.sendTo(uidEvent(uid), uid, func() map[*Connection]struct{} { return w.cluster.uids[uid] }, data)
}

// SendToGroup sends data to every connection in group, in every process
// sharing the worker's channel backend (Gateway::sendToGroup), as
// SendToUID does. Safe from any goroutine.
func (w *Worker) SendToGroup(group string, data []byte) error {
	return w.sendTo(groupEvent(group), group, func() map[*Connection]struct{} { return w.cluster.groups[group] }, data)
}

// SendToAll sends data to every connection of the worker (every worker of
// this name on the backend), in every process sharing its channel backend
// (Gateway::sendToAll), as SendToUID does. Safe from any goroutine.
func (w *Worker) SendToAll(data []byte) error {
	return w.sendTo(allEvent(w.Name), "", nil, data)
}

// SendToWorker sends data to every connection of the worker named name,
// in every process sharing this worker's channel backend: SendToAll for
// another worker on the same backend (a push API reaching the websocket
// workers). With this worker's own name it is SendToAll. Safe from any
// goroutine.
func (w *Worker) SendToWorker(name string, data []byte) error {
	if name == w.Name {
		return w.SendToAll(data)
	}
	return w.sendTo(allEvent(name), "", func() map[*Connection]struct{} { return nil }, data)
}

// CloseUID closes every connection bound to uid, in every process sharing
// the worker's channel backend (Gateway::closeClient for each of the
// uid's clients). Safe from any goroutine.
func (w *Worker) CloseUID(uid string) error {
	loop := w.loop
	if loop == nil {
		return ErrNotRunning
	}
	if !loop.OnLoop() {
		loop.Post(func() { _ = w.CloseUID(uid) })
		return nil
	}
	for c := range w.cluster.uids[uid] {
		c.Close()
	}
	return w.publish(map[string]any{"op": "close", "from": w.cluster.origin}, uidEvent(uid))
}

func (w *Worker) sendTo(event, key string, local func() map[*Connection]struct{}, data []byte) error {
	loop := w.loop
	if loop == nil {
		return ErrNotRunning
	}
	if !loop.OnLoop() {
		data = slices.Clone(data)
		loop.Post(func() {
			if err := w.sendTo(event, key, local, data); err != nil {
				loop.Logger().Warn("send through the channel", zap.String("worker", w.Name), zap.String("event", event), zap.Error(err))
			}
		})
		return nil
	}
	if local == nil {
		w.deliverAll(true, nil, data)
	} else {
		w.deliverAll(false, local(), data)
	}
	// []byte is written as a PHP string at once: nothing keeps data.
	return w.publish(map[string]any{"op": "send", "from": w.cluster.origin, "data": data}, event)
}

func (w *Worker) publish(v map[string]any, event string) error {
	if w.cluster.bus == nil {
		return nil
	}
	if err := w.cluster.bus.Publish(v, event); err != nil {
		return fmt.Errorf("worker %q: publish %s: %w", w.Name, event, err)
	}
	return nil
}

// message is data as the worker's sends carry it: on a websocket, bytes
// that are not UTF-8 go as a binary frame, since a text frame must be
// UTF-8.
func (w *Worker) message(data []byte) any {
	if w.addr.Scheme == "websocket" && !utf8.Valid(data) {
		return websocket.Binary(data)
	}
	return data
}

// IsUIDOnline calls fn on the loop with whether a connection is bound to
// uid in any process sharing the worker's channel backend
// (Gateway::isUidOnline). A uid bound in this process answers at once;
// otherwise the question is published on "uid:<uid>", which only the
// processes holding uid subscribe to, and the first answer says true. With
// no answer within OnlineQueryTimeout it says false: an offline uid costs
// one publish and that wait (no loop time), an online one a publish and an
// answer per process holding it. Questions about one uid while one is
// pending share it. Without a backend, this process decides alone. Safe
// from any goroutine.
func (w *Worker) IsUIDOnline(uid string, fn func(online bool)) {
	loop := w.loop
	if loop == nil {
		return
	}
	if !loop.OnLoop() {
		loop.Post(func() { w.IsUIDOnline(uid, fn) })
		return
	}
	if len(w.cluster.uids[uid]) > 0 || w.cluster.bus == nil {
		online := len(w.cluster.uids[uid]) > 0
		// Always later, never within the call, so a caller sees one order.
		loop.Post(func() { fn(online) })
		return
	}
	if q := w.cluster.queries[uid]; q != nil {
		q.fns = append(q.fns, fn)
		return
	}
	if w.cluster.queries == nil {
		w.cluster.queries = map[string]*onlineQuery{}
	}
	q := &onlineQuery{fns: []func(bool){fn}}
	w.cluster.queries[uid] = q
	q.timer = w.Timer().AddOnce(OnlineQueryTimeout, func() { w.resolve(uid, q, false) })
	if err := w.publish(map[string]any{"op": "query", "from": w.cluster.origin}, uidEvent(uid)); err != nil {
		loop.Logger().Warn("IsUIDOnline", zap.String("worker", w.Name), zap.String("uid", uid), zap.Error(err))
	}
}

// resolve answers the callers of q, if q is still the pending question
// about uid.
func (w *Worker) resolve(uid string, q *onlineQuery, online bool) {
	if w.cluster.queries[uid] != q {
		return
	}
	delete(w.cluster.queries, uid)
	if online {
		w.Timer().Del(q.timer)
	}
	for _, fn := range q.fns {
		fn(online)
	}
}

// fromBus handles an event of a uid, a group or all: data from another
// process, a PHP string from any publisher, a close or a question.
// Loop-only.
func (w *Worker) fromBus(event string, data any) {
	var set map[*Connection]struct{}
	all := event == allEvent(w.Name)
	key, isUID := strings.CutPrefix(event, "uid:")
	switch {
	case all:
	case isUID:
		set = w.cluster.uids[key]
	default:
		g, _ := strings.CutPrefix(event, "group:")
		set = w.cluster.groups[g]
	}
	if s, ok := data.(string); ok {
		// A plain string, as a PHP program publishes one: the data.
		w.deliverAll(all, set, unsafe.Slice(unsafe.StringData(s), len(s)))
		return
	}
	op, _ := field(data, "op").(string)
	from, _ := field(data, "from").(string)
	if from == w.cluster.origin && op != "query" {
		return // ours: delivered when sent
	}
	switch op {
	case "send":
		s, ok := field(data, "data").(string)
		if !ok {
			break
		}
		w.deliverAll(all, set, unsafe.Slice(unsafe.StringData(s), len(s)))
		return
	case "close":
		if isUID {
			for c := range set {
				c.Close()
			}
		}
		return
	case "query":
		if isUID && len(set) > 0 && from != "" {
			_ = w.publish(map[string]any{"op": "online", "uid": key}, procEvent(from))
		}
		return
	}
	w.loop.Logger().Warn("channel: an event the worker cannot use was skipped",
		zap.String("worker", w.Name), zap.String("event", event), zap.String("type", fmt.Sprintf("%T", data)))
}

// answer handles the event "proc:<origin>": answers to this process's
// IsUIDOnline questions. Loop-only.
func (w *Worker) answer(data any) {
	if op, _ := field(data, "op").(string); op != "online" {
		return
	}
	uid, _ := field(data, "uid").(string)
	if q := w.cluster.queries[uid]; q != nil {
		w.resolve(uid, q, true)
	}
}

// field reads a key of an array as a channel client decodes it
// (phpserialize.Array, whose package this one does not import) or of a
// map, as a Bus in memory may pass it.
func field(v any, key string) any {
	switch a := v.(type) {
	case interface{ Get(key any) (any, bool) }:
		x, _ := a.Get(key)
		return bytesAsString(x)
	case map[string]any:
		return bytesAsString(a[key])
	}
	return nil
}

func bytesAsString(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// mustOnLoop turns a data race on the worker's uids and groups into an
// immediate, explained failure.
func (w *Worker) mustOnLoop(method string) {
	if w.loop != nil && !w.loop.OnLoop() {
		panic(fmt.Sprintf("workerman: Connection.%s called off the loop goroutine; wrap it in EventLoop.Post", method))
	}
}
