// Package broadcast is the stock "broadcast" handler: on a websocket:// or
// text:// worker, every message a client sends goes to every client of the
// worker, the sender's included, as the manual's chat examples do.
//
// With no channel it reaches the clients of the process that received it.
// With a channel (a backend URL, as channel.Connect takes) every process
// subscribes to the topic, and a message is published there and delivered
// by each process to its own clients: every process of the worker, and
// every daemon on every host sharing the backend.
//
//	[[worker]]
//	name = "chat"
//	listen = "websocket://0.0.0.0:8081"
//	handler = "broadcast"
//	count = 4
//	[worker.options]
//	channel = "redis://10.0.0.5:6379"  # or nats://…, frame://… (the channel server)
//	topic = "chat"                     # the default: the worker's name
//
// The published data is the message text, a PHP string, so a PHP program
// publishing data => "text" on the topic through Workerman's Channel client
// and the channel server reaches every client; an integer, float or boolean
// is sent as PHP would print it, other values are logged and skipped. On
// a websocket worker a message goes out as a text frame when it is UTF-8,
// as a binary frame otherwise (a text frame must be UTF-8), so a client's
// binary message of other bytes arrives as binary.
package broadcast

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/websocket"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("broadcast", func() workerman.Handler { return &Handler{} })
}

// Handler broadcasts messages. Its exported fields are the options of
// [worker.options].
type Handler struct {
	// Channel is the backend URL shared by the processes and hosts
	// (frame://, unix://, redis://, nats://); empty: this process only.
	Channel string `toml:"channel"`
	// Topic is the event the messages go through; the worker's name when
	// empty.
	Topic string `toml:"topic"`
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// Validate checks that the channel, when set, is a URL of a backend.
func (h *Handler) Validate() error {
	if h.Channel == "" {
		return nil
	}
	return channel.CheckURL(h.Channel)
}

// Attach makes w broadcast.
func (h *Handler) Attach(w *workerman.Worker) error {
	switch p := w.Protocol(); p {
	case "websocket", "text":
	default:
		return fmt.Errorf("the broadcast handler serves a websocket:// or text:// worker, not %s", p)
	}
	topic := h.Topic
	if topic == "" {
		topic = w.Name
	}
	if topic == "" {
		return fmt.Errorf("the broadcast handler needs a topic option or a worker name")
	}
	var client channel.Client // this process's; loop-only
	// A program may set its own OnWorkerStart and OnWorkerStop beside the
	// handler: they still run, after the client connects and before it
	// closes.
	userStart, userStop := w.OnWorkerStart, w.OnWorkerStop
	w.OnWorkerStart = func(w *workerman.Worker) {
		if userStart != nil {
			defer userStart(w)
		}
		if h.Channel == "" {
			return
		}
		log := w.Loop().Logger()
		c, err := channel.Connect(w.Loop(), h.Channel, channel.Options{
			OnError: func(err error) {
				log.Warn("broadcast: channel", zap.String("worker", w.Name), zap.Error(err))
			},
		})
		if err != nil {
			// Validate accepted the URL, so only a backend that is not
			// compiled in gets here: broadcast locally, say so.
			log.Error("broadcast: no channel; messages reach this process only", zap.String("worker", w.Name), zap.Error(err))
			return
		}
		client = c
		client.On(topic, func(data any) {
			text, ok := asText(data)
			if !ok {
				log.Warn("broadcast: data that is not text skipped", zap.String("topic", topic), zap.String("type", fmt.Sprintf("%T", data)))
				return
			}
			sendAll(w, text)
		})
	}
	w.OnWorkerStop = func(w *workerman.Worker) {
		if userStop != nil {
			userStop(w)
		}
		if client != nil {
			client.Close()
		}
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		text := string(m.Data) // a copy: m.Data is the loop's
		if client == nil {
			sendAll(w, text)
			return
		}
		// Our own subscription brings it back to this process's clients.
		if err := client.Publish(text, topic); err != nil {
			w.Loop().Logger().Warn("broadcast: publish", zap.String("topic", topic), zap.Error(err))
		}
	}
	return nil
}

// sendAll sends text to every connection of w in this process, framed
// once for all of them (workerman.Broadcast). A client whose send buffer
// is full misses it (send_fail) rather than holding memory for it.
func sendAll(w *workerman.Worker, text string) {
	b := []byte(text)
	var msg any = b
	if w.Protocol() == "websocket" && !utf8.Valid(b) {
		msg = websocket.Binary(b)
	}
	workerman.Broadcast(w.Connections(), msg)
}

// asText is the text a published value stands for, as PHP's string
// conversion gives it for scalars.
func asText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'G', -1, 64), true
	case bool:
		if x {
			return "1", true
		}
		return "", true
	}
	return "", false
}
