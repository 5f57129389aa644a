// Package demo is the stock "demo" handler, what `workermand start` serves
// with no config file: a chat page on an http:// worker and the chat itself
// on a websocket:// worker. Every line a page sends goes to every open page,
// the sender's included; beside the chat, a panel shows the demo's
// processes with their connections and requests per second.
//
//	[[worker]]
//	name = "demo-page"
//	listen = "http://127.0.0.1:8080"
//	handler = "demo"
//	[worker.options]
//	chat_port = 8081   # where the page opens its websocket
//
//	[[worker]]
//	name = "demo-chat"
//	listen = "websocket://127.0.0.1:8081"
//	handler = "demo"
//	count = 1          # the broadcast reaches this process's connections only
//
// The worker's protocol picks the role. The chat broadcasts within its own
// process, so it needs count = 1: with more processes a line would reach
// only the pages connected to the process that received it (a broadcast
// across processes needs a channel between them, which the handler API does
// not offer yet).
//
// The panel shows only the processes running this handler, each reporting
// its own counters (EventLoop.Stats): the chat process pushes its row over
// the websocket every second, and the page polls the page worker's row from
// /stats. A handler sees nothing of other processes (the master's status
// data is not part of the handler API), so the daemon's other workers, the
// echo worker among them, are left to `workermand status`.
//
// The page inserts every line as text, never as HTML, and the server
// bounds each line (maxLineRunes) and each connection's rate (a bucket of
// burstLines refilled at linesPerSecond).
package demo

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("demo", func() workerman.Handler { return &Handler{ChatPort: 8081} })
}

// Handler serves the page (on an http:// worker) or the chat (on a
// websocket:// worker). Its exported fields are the options of
// [worker.options].
type Handler struct {
	// ChatPort is the port of the websocket:// worker the page connects
	// to, on the host the page was loaded from. The chat worker ignores it.
	ChatPort int `toml:"chat_port"`
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// Validate checks the options.
func (h *Handler) Validate() error {
	if h.ChatPort < 1 || h.ChatPort > 65535 {
		return fmt.Errorf("chat_port = %d: want a TCP port, 1 to 65535", h.ChatPort)
	}
	return nil
}

// Attach makes w serve the page or the chat, by its protocol.
func (h *Handler) Attach(w *workerman.Worker) error {
	scheme, _, _ := strings.Cut(w.ListenAddr, "://")
	switch scheme {
	case "http":
		return attachPage(w, h.ChatPort)
	case "websocket":
		attachChat(w)
		return nil
	}
	return fmt.Errorf("the demo handler serves an http:// worker (the page) or a websocket:// worker (the chat), not %s://", scheme)
}

// procRow is one process in the page's panel, as JSON.
type procRow struct {
	Worker      string  `json:"worker"`
	ID          int     `json:"id"`
	PID         int     `json:"pid"`
	Connections int     `json:"connections"`
	QPS         float64 `json:"qps"`
}

// meter keeps a process's row up to date: requests per second need two
// readings of the message counter, so it is read once a second.
type meter struct {
	w    *workerman.Worker
	row  procRow
	last uint64
	at   time.Time
}

func newMeter(w *workerman.Worker) *meter {
	return &meter{w: w, row: procRow{Worker: w.Name, ID: w.ID(), PID: os.Getpid()}}
}

// tick reads the process's counters. Loop-only.
func (m *meter) tick() {
	st := m.w.Loop().Stats()
	now := time.Now()
	if !m.at.IsZero() {
		if secs := now.Sub(m.at).Seconds(); secs > 0 {
			// Rounded to a tenth: the panel shows no more.
			m.row.QPS = float64(int((float64(st.TotalRequest-m.last)/secs)*10+0.5)) / 10
		}
	}
	m.last, m.at = st.TotalRequest, now
}

// current is the row with the connections open now and the requests per
// second of the last reading. Loop-only.
func (m *meter) current() procRow {
	r := m.row
	r.Connections = m.w.Loop().Stats().Connections
	return r
}

// start reads the counters now and every second after, calling then (if
// not nil) after each reading. Loop-only.
func (m *meter) start(then func()) {
	m.tick()
	m.w.Timer().Add(time.Second, func() {
		m.tick()
		if then != nil {
			then()
		}
	})
}
