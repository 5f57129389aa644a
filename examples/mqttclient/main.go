// Command mqttclient is an HTTP worker on an MQTT broker (the manual's MQTT
// client, 1.15.8): github.com/eclipse/paho.mqtt.golang subscribes to a
// topic and posts each message to the event loop, which keeps the last
// ones; a request publishes at QoS 1 and is answered once the broker has
// acknowledged it.
//
//	go run ./mqttclient start
//	curl 'http://127.0.0.1:7140/publish?msg=hello'
//	curl http://127.0.0.1:7140/messages
//
// paho's API is already asynchronous: Connect, Subscribe and Publish
// return tokens, and messages arrive on its goroutines. The handler hands
// each message to the loop with EventLoop.Post; a publish waits for its
// token (the broker's PUBACK) through workerman.Async, with a deadline: a
// broker that hangs (kill -STOP) costs the request a 504 and the loop
// nothing (/ping answers), one that is down a 502 or 504 while paho
// reconnects, and the subscription is made again on each connect.
//
// MQTTCLIENT_ADDR is the address (127.0.0.1:7140), MQTTCLIENT_BROKER the
// broker (tcp://127.0.0.1:1883), MQTTCLIENT_TOPIC the topic
// (workermand/example), MQTTCLIENT_TIMEOUT each publish's deadline (2s).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/workermand/workermand/examples/internal/backend"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// keep is how many received messages /messages lists.
const keep = 20

// The process's client, topic and last messages; loop-only (the client is
// safe from any goroutine, and used from the work of each publish).
var (
	client mqtt.Client
	topic  string
	recent []string
	calls  backend.Calls
)

func main() {
	w := workerman.NewWorker("http://" + backend.Env("MQTTCLIENT_ADDR", "127.0.0.1:7140"))
	w.Name = "mqttclient"
	w.OnWorkerStart = func(w *workerman.Worker) {
		loop := w.Loop()
		topic = backend.Env("MQTTCLIENT_TOPIC", "workermand/example")
		calls = backend.Calls{Timeout: backend.Duration("MQTTCLIENT_TIMEOUT", 2*time.Second), Max: 64}
		onMessage := func(_ mqtt.Client, m mqtt.Message) {
			line := m.Topic() + ": " + string(m.Payload()) // a copy, on paho's goroutine
			loop.Post(func() {
				recent = append(recent, line)
				if len(recent) > keep {
					recent = recent[len(recent)-keep:]
				}
			})
		}
		opts := mqtt.NewClientOptions().
			AddBroker(backend.Env("MQTTCLIENT_BROKER", "tcp://127.0.0.1:1883")).
			// One session per process: each has its own subscription.
			SetClientID(fmt.Sprintf("workermand-mqttclient-%d", os.Getpid())).
			SetCleanSession(true).
			// Down at start is like down later: keep trying.
			SetConnectRetry(true).
			SetConnectRetryInterval(500 * time.Millisecond).
			SetAutoReconnect(true).
			SetMaxReconnectInterval(time.Second).
			SetConnectTimeout(2 * time.Second).
			SetWriteTimeout(2 * time.Second).
			// Each message on a goroutine of its own, so one slow Post
			// never holds paho's reader.
			SetOrderMatters(false).
			// A clean session forgets the subscription: make it on
			// every connect, reconnects included.
			SetOnConnectHandler(func(cl mqtt.Client) {
				cl.Subscribe(topic, 1, onMessage)
			}).
			SetConnectionLostHandler(func(_ mqtt.Client, err error) {
				loop.Post(func() { loop.Logger().Warn("mqtt connection lost: " + err.Error()) })
			})
		client = mqtt.NewClient(opts)
		// Connect returns its token at once and dials on paho's
		// goroutines: nothing here waits.
		client.Connect()
	}
	w.OnWorkerStop = func(*workerman.Worker) { client.Disconnect(250) }
	w.OnMessage = backend.Serve(map[string]backend.Route{
		"/messages": func(c *workerman.Connection, _ *http.Request) {
			backend.Reply(c, 200, map[string]any{"topic": topic, "messages": recent})
		},
		"/publish": publish,
	})
	workerman.RunAll(w)
}

// publish sends ?msg= to the topic at QoS 1 and answers on the broker's
// acknowledgement.
func publish(c *workerman.Connection, req *http.Request) {
	msg := req.Get("msg")
	backend.Do(c.Loop(), &calls, "mqtt publish", func(ctx context.Context) (struct{}, error) {
		tok := client.Publish(topic, 1, false, msg)
		select {
		case <-tok.Done():
			return struct{}{}, tok.Error()
		case <-ctx.Done():
			return struct{}{}, ctx.Err()
		}
	}, func(_ struct{}, err error) {
		if err != nil {
			backend.Fail(c, err)
			return
		}
		backend.Reply(c, 200, map[string]string{"topic": topic, "published": msg})
	})
}
