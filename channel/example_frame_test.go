package channel_test

import (
	"fmt"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/workerman"
)

// A websocket chat over four processes: each process subscribes to the
// "chat" event on the channel server and sends what arrives to its own
// connections, so a message reaches every connection of every process.
func ExampleConnect() {
	chat := workerman.NewWorker("websocket://127.0.0.1:7001")
	chat.Count = 4
	var ch channel.Client
	chat.OnWorkerStart = func(w *workerman.Worker) {
		var err error
		ch, err = channel.Connect(w.Loop(), "frame://127.0.0.1:2206", channel.Options{
			OnError: func(err error) { fmt.Println("channel:", err) },
		})
		if err != nil {
			panic(err) // a malformed URL: a programming error
		}
		ch.On("chat", func(data any) {
			msg, _ := data.(string)
			for c := range w.Connections() {
				c.SendString(msg)
			}
		})
	}
	chat.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		_ = ch.Publish(string(m.Data), "chat") // this process's handler too
	}
	chat.OnWorkerStop = func(*workerman.Worker) { ch.Close() }

	// The channel server in the same program: Workerman's Channel\Server.
	workerman.RunAll(chanserver.NewServer("frame://127.0.0.1:2206"), chat)
}

// A work queue: every item enqueued goes to one of the watchers; with
// autoReserve each watcher asks for the next item once its handler
// returns.
func ExampleClient_Watch() {
	w := workerman.NewWorker("tcp://127.0.0.1:7002")
	w.Count = 2
	w.OnWorkerStart = func(w *workerman.Worker) {
		ch, err := channel.Connect(w.Loop(), "frame://127.0.0.1:2206", channel.Options{})
		if err != nil {
			panic(err)
		}
		ch.Watch("mail", func(data any) {
			fmt.Printf("process %d sends %v\n", w.ID(), data)
		}, true)
		// Anyone, PHP included, enqueues: Channel\Client::enqueue('mail', $to).
		_ = ch.Enqueue("ada@example.com", "mail")
	}
	workerman.RunAll(chanserver.NewServer("frame://127.0.0.1:2206"), w)
}
