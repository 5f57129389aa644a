// Command gochat is the exec handler's chat (see ../chat.php) in Go: a
// program of its own, speaking JSON lines with the daemon, for logic that
// should not live in the daemon's process (it can crash, be restarted or
// be rewritten without touching the connections).
//
//	go build -o gochat ./exec/gochat   # in the examples module
//
//	[worker.options]
//	command = ["./gochat"]
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// event is what the daemon writes on stdin; the fields a chat uses.
type event struct {
	Event   string            `json:"event"`
	Conn    string            `json:"conn"`
	Data    *string           `json:"data"`
	DataB64 *string           `json:"data_b64"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
}

// cmd is a command line on stdout.
type cmd struct {
	Cmd     string  `json:"cmd"`
	Conn    string  `json:"conn,omitempty"`
	UID     string  `json:"uid,omitempty"`
	Group   string  `json:"group,omitempty"`
	Data    *string `json:"data,omitempty"` // a pointer: "" is a message too
	DataB64 string  `json:"data_b64,omitempty"`
}

func str(s string) *string { return &s }

func main() {
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	send := func(c cmd) {
		if err := enc.Encode(c); err != nil {
			fmt.Fprintln(os.Stderr, "gochat:", err)
			os.Exit(1)
		}
	}
	clients := map[string]event{} // conn id -> its connect event
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return // stdin closed: the daemon is stopping this program
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Fprintln(os.Stderr, "gochat: not JSON:", err)
			continue
		}
		conn := e.Conn
		switch e.Event {
		case "connect":
			clients[conn] = e
			send(cmd{Cmd: "send", Conn: conn, Data: str("hello " + conn)})
		case "close":
			delete(clients, conn)
		case "message":
			if e.DataB64 != nil {
				send(cmd{Cmd: "send", Conn: conn, DataB64: *e.DataB64})
				break
			}
			if e.Data == nil {
				break
			}
			message(send, clients, conn, *e.Data)
		}
		// Write what this event made once no more events are waiting: a
		// burst of events costs one write.
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				os.Exit(1)
			}
		}
	}
}

func message(send func(cmd), clients map[string]event, conn, data string) {
	parts := strings.SplitN(data, " ", 3)
	switch {
	case parts[0] == "login" && len(parts) > 1:
		send(cmd{Cmd: "bind_uid", Conn: conn, UID: parts[1]})
		send(cmd{Cmd: "send", Conn: conn, Data: str("you are " + parts[1])})
	case parts[0] == "to" && len(parts) > 2:
		send(cmd{Cmd: "send_to_uid", UID: parts[1], Data: str(parts[2])})
	case parts[0] == "join" && len(parts) > 1:
		send(cmd{Cmd: "join_group", Conn: conn, Group: parts[1]})
		send(cmd{Cmd: "send", Conn: conn, Data: str("joined " + parts[1])})
	case parts[0] == "say" && len(parts) > 2:
		send(cmd{Cmd: "send_to_group", Group: parts[1], Data: str(parts[2])})
	case parts[0] == "all":
		send(cmd{Cmd: "broadcast", Data: str(data[min(4, len(data)):])})
	case data == "info":
		c := clients[conn]
		if c.Headers == nil {
			c.Headers = map[string]string{}
		}
		b, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "path": c.Path, "query": c.Query, "headers": c.Headers})
		send(cmd{Cmd: "send", Conn: conn, Data: str(string(b))})
	default:
		send(cmd{Cmd: "send", Conn: conn, Data: str(data)})
	}
}
