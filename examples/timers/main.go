// Command timers shows Workerman's Timer on a text worker: a process-wide
// timer (Add) that sends a tick to every connection, and a per-connection
// heartbeat (AddOnce, renewed with Del on every line) that closes a client
// idle for too long, as the manual's heartbeat example (1.16.9) does.
//
//	go run ./timers start
//	exec 3<>/dev/tcp/127.0.0.1/7020; printf 'ping\n' >&3; cat <&3   # ticks, then "bye" after 30 s of silence
//
// TIMERS_ADDR (127.0.0.1:7020), TIMERS_TICK (10s) and TIMERS_IDLE (30s)
// change the address and the two periods.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/workermand/workermand/workerman"
)

func main() {
	tick := duration("TIMERS_TICK", 10*time.Second)
	idle := duration("TIMERS_IDLE", 30*time.Second)

	w := workerman.NewWorker("text://" + env("TIMERS_ADDR", "127.0.0.1:7020"))
	w.Name = "timers"

	// Timers belong to the process that adds them: this one runs in
	// every process of the worker, for that process's connections.
	w.OnWorkerStart = func(w *workerman.Worker) {
		n := 0
		w.Timer().Add(tick, func() {
			n++
			for c := range w.Connections() {
				c.SendString(fmt.Sprintf("tick %d", n))
			}
		})
	}

	// A connection's heartbeat: a one-shot timer that closes it, pushed
	// back by every line the client sends. The timer id lives in the
	// connection's Context so that the callbacks can find it.
	arm := func(c *workerman.Connection) {
		c.Context = c.Worker().Timer().AddOnce(idle, func() {
			c.Close([]byte(fmt.Sprintf("bye: nothing heard for %s", idle)))
		})
	}
	disarm := func(c *workerman.Connection) {
		if id, ok := c.Context.(workerman.TimerID); ok {
			c.Worker().Timer().Del(id)
		}
	}
	w.OnConnect = arm
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		disarm(c)
		arm(c)
		c.Send(append([]byte("got "), m.Data...))
	}
	// A timer left behind would fire on a closed connection and keep its
	// memory until then.
	w.OnClose = disarm

	workerman.RunAll(w)
}

// duration reads a Go duration ("1.5s") from the environment.
func duration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a positive duration such as 30s\n", key, v)
		os.Exit(2)
	}
	return d
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
