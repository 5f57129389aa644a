// Command channelgroup is the Workerman manual's Channel group send
// (1.15.2): websocket clients join groups and send to a group, whose
// members may be connected to any of the worker's processes. Each process
// keeps its own members; a message to a group is published on the channel
// "send_to_group" and every process delivers it to its local members.
//
//	go run ./channelgroup start
//	# websocket clients on ws://127.0.0.1:7081/ send JSON:
//	{"cmd":"add_group","group_id":"g1"}
//	{"cmd":"send_to_group","group_id":"g1","message":"hi, group"}
//
// CHANNELGROUP_CHANNEL_ADDR (127.0.0.1:7080) and CHANNELGROUP_WS_ADDR
// (127.0.0.1:7081) change the addresses; CHANNELGROUP_COUNT (4) the
// number of websocket processes.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

// groups maps a group to its members in this process, by connection id.
// Every callback runs on the process's one loop, so it needs no lock.
type groups map[string]map[uint64]*workerman.Connection

func main() {
	chanAddr := "frame://" + env("CHANNELGROUP_CHANNEL_ADDR", "127.0.0.1:7080")
	server := chanserver.NewServer(chanAddr)

	ws := workerman.NewWorker("websocket://" + env("CHANNELGROUP_WS_ADDR", "127.0.0.1:7081"))
	ws.Name = "group"
	ws.Count, _ = strconv.Atoi(env("CHANNELGROUP_COUNT", "4"))
	// Each process its own socket: the kernel spreads the clients over
	// them, where one shared socket may give most to whichever wakes first.
	ws.ReusePort = true

	members := groups{}
	var client channel.Client
	ws.OnWorkerStart = func(w *workerman.Worker) {
		var err error
		client, err = channel.Connect(w.Loop(), chanAddr, channel.Options{
			OnError: func(err error) { fmt.Fprintln(os.Stderr, "group:", err) },
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		client.On("send_to_group", func(data any) {
			ev, ok := data.(*phpserialize.Array)
			if !ok {
				return
			}
			id, _ := ev.Get("group_id")
			msg, _ := ev.Get("message")
			text, _ := msg.(string)
			for _, c := range members[fmt.Sprint(id)] {
				c.SendString(text)
			}
		})
	}
	ws.OnWorkerStop = func(*workerman.Worker) { client.Close() }

	ws.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		var req struct {
			Cmd     string          `json:"cmd"`
			GroupID json.RawMessage `json:"group_id"`
			Message string          `json:"message"`
		}
		if err := json.Unmarshal(m.Data, &req); err != nil || len(req.GroupID) == 0 {
			c.SendString(`{"error":"want {\"cmd\":\"add_group\"|\"send_to_group\",\"group_id\":…}"}`)
			return
		}
		// A group id may be a JSON number or string; "1" and 1 are one
		// group, as they are one key of a PHP array.
		var group string
		if err := json.Unmarshal(req.GroupID, &group); err != nil {
			group = string(req.GroupID)
		}
		switch req.Cmd {
		case "add_group":
			if members[group] == nil {
				members[group] = map[uint64]*workerman.Connection{}
			}
			members[group][c.ID()] = c
			joined, _ := c.Context.(map[string]bool)
			if joined == nil {
				joined = map[string]bool{}
				c.Context = joined
			}
			joined[group] = true
		case "send_to_group":
			if err := client.Publish(map[string]any{"group_id": group, "message": req.Message}, "send_to_group"); err != nil {
				b, _ := json.Marshal(map[string]string{"error": err.Error()})
				c.Send(b)
			}
		default:
			c.SendString(`{"error":"unknown cmd"}`)
		}
	}
	ws.OnClose = func(c *workerman.Connection) {
		joined, _ := c.Context.(map[string]bool)
		for group := range joined {
			delete(members[group], c.ID())
			if len(members[group]) == 0 {
				delete(members, group)
			}
		}
	}

	workerman.RunAll(server, ws)
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
