// Command senduid is the Workerman manual's "send to a given uid"
// (1.16.15) with its "push from other projects" (1.16.17): websocket
// clients log in by sending their uid as their first message; then
// "uid:text" sends text to that uid and "all:text" to everyone. Another
// program pushes to a uid through an inner text port that only the
// machine reaches, one JSON line per message, answered "ok" or "offline".
//
//	go run ./senduid start
//	# a websocket client on ws://127.0.0.1:7030/ sends "alice", then:
//	exec 3<>/dev/tcp/127.0.0.1/7031; printf '{"uid":"alice","msg":"hi"}\n' >&3; head -1 <&3   # → ok
//
// SENDUID_WS_ADDR (127.0.0.1:7030) and SENDUID_INNER_ADDR (127.0.0.1:7031)
// change the addresses.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/workermand/workermand/workerman"
)

func main() {
	innerAddr := env("SENDUID_INNER_ADDR", "127.0.0.1:7031")

	ws := workerman.NewWorker("websocket://" + env("SENDUID_WS_ADDR", "127.0.0.1:7030"))
	ws.Name = "senduid"
	// The uid map is this process's: with one process it holds every
	// client, so any uid can be reached from any message or push.
	ws.Count = 1

	// uids maps a logged-in uid to its connection. Every callback runs on
	// the process's one loop, so it needs no lock.
	uids := map[string]*workerman.Connection{}

	ws.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		data := string(m.Data)
		uid, ok := c.Context.(string)
		if !ok {
			// The first message is the uid (a real program would check
			// a token here). A second login with the same uid takes it
			// over.
			c.Context = data
			uids[data] = c
			c.SendString("login success, your uid is " + data)
			return
		}
		to, text, ok := strings.Cut(data, ":")
		switch {
		case !ok:
			c.SendString(`say "uid:text" or "all:text"`)
		case to == "all":
			for _, conn := range uids {
				conn.SendString(uid + ": " + text)
			}
		case uids[to] != nil:
			uids[to].SendString(uid + ": " + text)
		default:
			c.SendString(to + " is offline")
		}
	}
	ws.OnClose = func(c *workerman.Connection) {
		// Only if the uid is still ours: a newer login may have taken it.
		if uid, ok := c.Context.(string); ok && uids[uid] == c {
			delete(uids, uid)
		}
	}

	// The inner worker is created in each process that starts, and
	// listens from there: it shares the loop and the uid map, and adds
	// no process of its own (Workerman's $inner->listen()).
	ws.OnWorkerStart = func(*workerman.Worker) {
		inner := workerman.NewWorker("text://" + innerAddr)
		inner.Name = "senduid-inner"
		inner.OnMessage = func(c *workerman.Connection, m workerman.Message) {
			var push struct {
				UID string `json:"uid"`
				Msg string `json:"msg"`
			}
			if err := json.Unmarshal(m.Data, &push); err != nil || push.UID == "" {
				c.SendString(`error: want {"uid":"...","msg":"..."}`)
				return
			}
			to := uids[push.UID]
			if to == nil {
				c.SendString("offline")
				return
			}
			to.SendString(push.Msg)
			c.SendString("ok")
		}
		if err := inner.Listen(); err != nil {
			// Without its inner port the process cannot do its job: the
			// daemon reports the exit and starts another one.
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}

	workerman.RunAll(ws)
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
