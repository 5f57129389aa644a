package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/workermand/workermand/internal/testserver"
)

// The stock broadcast handler across daemons: two daemons, count 2 each,
// a websocket worker each sharing one backend (the channel server run by a
// third daemon, redis-server, nats-server), real websocket clients
// connected to every process of both: every client receives every message
// exactly once, its own included.
func TestBroadcastAcrossDaemons(t *testing.T) {
	backends := []struct {
		name  string
		start func(t *testing.T) string // the channel URL
	}{
		{"frame", func(t *testing.T) string {
			d := newDaemon(t, stockBin)
			d.writeConfig(worker("chan", "frame://127.0.0.1:0", "channel", 1))
			d.start()
			return "frame://" + d.waitReady("chan", 1).addr("chan")
		}},
		{"redis", func(t *testing.T) string { return "redis://" + testserver.Redis(t).Addr() }},
		{"nats", func(t *testing.T) string { return "nats://" + testserver.NATS(t).Addr() }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.start(t)
			var clients []*broadcastClient
			for i := range 2 {
				d := newDaemon(t, stockBin)
				d.writeConfig(worker("chat", "websocket://"+loopback(t), "broadcast", 2, "reuse_port = true",
					"[worker.options]", fmt.Sprintf("channel = %q", url)))
				d.start()
				st := d.waitReady("chat", 2)
				clients = append(clients, clientsOnEveryProcess(t, d, st, fmt.Sprintf("d%d", i))...)
			}
			t.Logf("%d clients on 4 processes of 2 daemons through %s", len(clients), url)

			// The processes subscribe on start, asynchronously: a probe
			// round makes sure all four are in before counting.
			settleBroadcast(t, clients)

			for _, c := range clients {
				c.send(t, "from "+c.name)
			}
			var want []string
			for _, c := range clients {
				want = append(want, "from "+c.name)
			}
			slices.Sort(want)
			for _, c := range clients {
				got := c.take(t, len(want))
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("client %s received %q, want each of %q once", c.name, got, want)
				}
			}
			for _, c := range clients {
				if extra := c.drain(300 * time.Millisecond); len(extra) > 0 {
					t.Errorf("client %s received more: %q", c.name, extra)
				}
			}

			if b.name != "frame" {
				return
			}
			// A PHP program publishing on the topic through the channel
			// server, as php-fpm code with Workerman's Channel client does
			// (its sendAnyway: one frame, serialize() of the message).
			php := needTool(t, "php")
			hostPort := strings.TrimPrefix(url, "frame://")
			script := `$s = stream_socket_client("tcp://` + hostPort + `", $e, $es, 5) or exit(1);
$body = serialize(["type" => "publish", "channels" => ["chat"], "data" => "from php"]);
fwrite($s, pack("N", 4 + strlen($body)) . $body); fclose($s);`
			if out, err := exec.Command(php, "-r", script).CombinedOutput(); err != nil {
				t.Fatalf("php: %v\n%s", err, out)
			}
			for _, c := range clients {
				if got := c.take(t, 1); got[0] != "from php" {
					t.Errorf("client %s: %q, want the PHP program's text", c.name, got)
				}
			}
		})
	}
}

// broadcastClient is a websocket client whose messages a goroutine reads.
type broadcastClient struct {
	name string
	c    *websocket.Conn
	in   chan string
}

func dialBroadcastWS(t *testing.T, addr, name string) *broadcastClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow(10*time.Second))
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	w := &broadcastClient{name: name, c: c, in: make(chan string, 1000)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				close(w.in)
				return
			}
			w.in <- string(b)
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return w
}

func (w *broadcastClient) send(t *testing.T, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow(10*time.Second))
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("client %s: write: %v", w.name, err)
	}
}

// take returns the next n messages, failing after a bounded wait.
func (w *broadcastClient) take(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	timeout := time.After(slow(15 * time.Second))
	for len(out) < n {
		select {
		case m, ok := <-w.in:
			if !ok {
				t.Fatalf("client %s: closed after %q", w.name, out)
			}
			out = append(out, m)
		case <-timeout:
			t.Fatalf("client %s: %d of %d messages: %q", w.name, len(out), n, out)
		}
	}
	return out
}

// drain returns what arrives until quiet passes with nothing.
func (w *broadcastClient) drain(quiet time.Duration) []string {
	var out []string
	for {
		select {
		case m, ok := <-w.in:
			if !ok {
				return out
			}
			out = append(out, m)
		case <-time.After(quiet):
			return out
		}
	}
}

// clientsOnEveryProcess connects websocket clients to d's chat worker until
// each of its processes has at least one (connections --json tells which
// process holds which), at most 16.
func clientsOnEveryProcess(t *testing.T, d *daemon, st *statusDoc, prefix string) []*broadcastClient {
	t.Helper()
	addr := st.addr("chat")
	pids := map[int]bool{}
	for _, p := range st.procs("chat") {
		pids[p.PID] = false
	}
	var out []*broadcastClient
	for len(out) < 16 {
		out = append(out, dialBroadcastWS(t, addr, prefix+"-"+strconv.Itoa(len(out))))
		if len(out) < 2 {
			continue
		}
		var rows []struct {
			PID    int    `json:"pid"`
			Worker string `json:"worker"`
		}
		r := d.run("connections", "--json")
		if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
			t.Fatalf("connections --json: %v in %q", err, r.out)
		}
		for p := range pids {
			pids[p] = false
		}
		for _, row := range rows {
			if _, ok := pids[row.PID]; ok && row.Worker == "chat" {
				pids[row.PID] = true
			}
		}
		all := true
		for _, seen := range pids {
			all = all && seen
		}
		if all {
			return out
		}
	}
	t.Fatalf("16 clients and still a process of %s without one: %v\n%s", prefix, pids, d.run("connections", "--json").out)
	return nil
}

// settleBroadcast sends probes from the first client until one reaches
// every client, then drops whatever the probes left in the queues.
func settleBroadcast(t *testing.T, clients []*broadcastClient) {
	t.Helper()
	deadline := time.Now().Add(slow(15 * time.Second))
	for i := 0; ; i++ {
		probe := "probe " + strconv.Itoa(i)
		clients[0].send(t, probe)
		all := true
		for _, c := range clients {
			got := false
			timeout := time.After(500 * time.Millisecond)
		wait:
			for !got {
				select {
				case m := <-c.in:
					got = m == probe
				case <-timeout:
					break wait
				}
			}
			all = all && got
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no probe reached every client")
		}
	}
	for _, c := range clients {
		c.drain(200 * time.Millisecond)
	}
}
