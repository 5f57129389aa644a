// Command senduidcluster is senduid (the manual's "send to a given uid",
// 1.16.15, and "push from other projects", 1.16.17) over several
// processes, with GatewayWorker's API: a client binds its uid
// (Connection.BindUID) and joins groups (JoinGroup); SendToUID,
// SendToGroup and SendToAll reach it whichever process holds it, through
// the worker's channel backend (Worker.Channel). The program runs the
// channel server too, unless SENDUID_CHANNEL names another backend
// (redis://…, nats://…) shared with daemons on other hosts.
//
//	go run ./senduidcluster start
//	# websocket clients on ws://127.0.0.1:7035/ send their uid first, then
//	#   "bob:hi"        to the uid bob (every connection of bob)
//	#   "join:room"     to join the group room
//	#   "#room:hi"      to the group room
//	#   "all:hi"        to everyone
//	# another program pushes through the inner port of any process:
//	exec 3<>/dev/tcp/127.0.0.1/7036; printf '{"uid":"alice","msg":"hi"}\n' >&3; head -1 <&3   # → ok, or offline
//
// SENDUID_WS_ADDR (127.0.0.1:7035), SENDUID_INNER_ADDR (127.0.0.1:7036),
// SENDUID_CHANNEL_ADDR (127.0.0.1:7037, the channel server's) and
// SENDUID_COUNT (4) change the defaults.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/workerman"
)

func main() {
	workers := []*workerman.Worker{}
	backend := os.Getenv("SENDUID_CHANNEL")
	if backend == "" {
		backend = "frame://" + env("SENDUID_CHANNEL_ADDR", "127.0.0.1:7037")
		workers = append(workers, chanserver.NewServer(backend))
	}

	ws := workerman.NewWorker("websocket://" + env("SENDUID_WS_ADDR", "127.0.0.1:7035"))
	ws.Name = "senduid"
	ws.Count, _ = strconv.Atoi(env("SENDUID_COUNT", "4"))
	// Each process its own socket, so the kernel spreads the clients.
	ws.ReusePort = true
	// Every process connects to the backend when it starts: a send to a
	// uid, a group or all is delivered by each process to its own
	// connections, and reaches every process that holds one.
	ws.Channel = channel.Backend(backend, channel.Options{
		OnError: func(err error) { fmt.Fprintln(os.Stderr, "senduid: channel:", err) },
	})

	ws.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		data := string(m.Data)
		uid := c.UID()
		if uid == "" {
			// The first message is the uid (a real program would check
			// a token here). A uid may log in from several connections:
			// each gets what is sent to it.
			c.BindUID(data)
			c.SendString("login success, your uid is " + data)
			return
		}
		to, text, ok := strings.Cut(data, ":")
		var err error
		switch {
		case !ok:
			c.SendString(`say "uid:text", "#group:text", "join:group" or "all:text"`)
		case to == "join":
			c.JoinGroup(text)
			c.SendString("joined " + text)
		case to == "all":
			err = ws.SendToAll([]byte(uid + ": " + text))
		case strings.HasPrefix(to, "#"):
			err = ws.SendToGroup(to[1:], []byte(uid+": "+text))
		default:
			// Whether to is online is a question to the other processes:
			// the answer comes later, on the loop.
			ws.IsUIDOnline(to, func(online bool) {
				if !online {
					c.SendString(to + " is offline")
					return
				}
				if err := ws.SendToUID(to, []byte(uid+": "+text)); err != nil {
					c.SendString("error: " + err.Error())
				}
			})
		}
		if err != nil {
			c.SendString("error: " + err.Error())
		}
	}

	// The inner port, one per process (Listen in OnWorkerStart): a push
	// from another program reaches the uid whichever process it lands on.
	innerAddr := env("SENDUID_INNER_ADDR", "127.0.0.1:7036")
	ws.OnWorkerStart = func(*workerman.Worker) {
		inner := workerman.NewWorker("text://" + innerAddr)
		inner.Name = "senduid-inner"
		inner.OnMessage = func(c *workerman.Connection, m workerman.Message) {
			var push struct {
				UID   string `json:"uid"`
				Group string `json:"group"`
				Msg   string `json:"msg"`
			}
			if err := json.Unmarshal(m.Data, &push); err != nil || push.UID == "" && push.Group == "" {
				c.SendString(`error: want {"uid":"...","msg":"..."} or {"group":"...","msg":"..."}`)
				return
			}
			if push.Group != "" {
				reply(c, ws.SendToGroup(push.Group, []byte(push.Msg)))
				return
			}
			ws.IsUIDOnline(push.UID, func(online bool) {
				if !online {
					c.SendString("offline")
					return
				}
				reply(c, ws.SendToUID(push.UID, []byte(push.Msg)))
			})
		}
		if err := inner.Listen(); err != nil {
			// Without its inner port the process cannot do its job: the
			// daemon reports the exit and starts another one.
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}

	workerman.RunAll(append(workers, ws)...)
}

func reply(c *workerman.Connection, err error) {
	if err != nil {
		c.SendString("error: " + err.Error())
		return
	}
	c.SendString("ok")
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
