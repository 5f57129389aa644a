package demo

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/workerman"
)

// The limits on what one connection may say.
const (
	// maxLineRunes bounds a line; the page's input has the same maxlength.
	maxLineRunes = 500
	// burstLines lines may come at once; then linesPerSecond.
	burstLines     = 10
	linesPerSecond = 2
)

// event is what the chat sends to a page, as JSON: "hello" names the page
// (You), "line" is a line said by From, "error" a line of ours that was
// refused (Text says why), "stats" the chat process's row of the panel.
type event struct {
	Type string   `json:"type"`
	You  string   `json:"you,omitempty"`
	From string   `json:"from,omitempty"`
	Text string   `json:"text,omitempty"`
	Proc *procRow `json:"proc,omitempty"`
}

// guest is a connection's state: its name and its rate bucket.
type guest struct {
	name   string
	tokens float64
	at     time.Time
}

// allow takes a token for a line said at now, if one is left.
func (g *guest) allow(now time.Time) bool {
	g.tokens = min(burstLines, g.tokens+now.Sub(g.at).Seconds()*linesPerSecond)
	g.at = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

func attachChat(w *workerman.Worker) {
	w.OnWorkerStart = func(w *workerman.Worker) {
		m := newMeter(w)
		m.start(func() {
			if w.ConnectionCount() > 0 {
				row := m.current()
				broadcast(w, event{Type: "stats", Proc: &row})
			}
		})
	}
	w.OnConnect = func(c *workerman.Connection) {
		g := &guest{name: fmt.Sprintf("guest-%d", c.ID()), tokens: burstLines, at: time.Now()}
		c.Context = g
		// Sent before the handshake completes; the websocket protocol
		// holds it until the 101 is out.
		send(c, event{Type: "hello", You: g.name})
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		g, ok := c.Context.(*guest)
		if !ok {
			c.Close()
			return
		}
		if m.Kind != codec.KindText {
			send(c, event{Type: "error", Text: "only text lines are accepted"})
			return
		}
		line := clean(string(m.Data))
		switch {
		case line == "":
			return
		case utf8.RuneCountInString(line) > maxLineRunes:
			send(c, event{Type: "error", Text: fmt.Sprintf("not sent: a line may have at most %d characters", maxLineRunes)})
			return
		case !g.allow(time.Now()):
			send(c, event{Type: "error", Text: fmt.Sprintf("not sent: at most %d lines a second, please", linesPerSecond)})
			return
		}
		broadcast(w, event{Type: "line", From: g.name, Text: line})
	}
}

// clean makes a line printable on one line: control characters (newlines,
// escapes) become spaces and the ends are trimmed. Markup needs no escaping
// here: the page inserts lines as text, and JSON escapes <, > and &.
func clean(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// send sends one event to c.
func send(c *workerman.Connection, e event) {
	c.Send(encode(e))
}

// broadcast sends one event to every connection of w in this process, the
// sender's included. A page whose send buffer is full misses the event
// (counted as send_fail) rather than holding memory for it.
func broadcast(w *workerman.Worker, e event) {
	b := encode(e)
	for c := range w.Connections() {
		c.Send(b)
	}
}

func encode(e event) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		// Strings and numbers only: Marshal cannot fail on them.
		panic(fmt.Sprintf("demo: encoding an event: %v", err))
	}
	return b
}
