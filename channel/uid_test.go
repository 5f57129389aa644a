package channel_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// These tests run the uids and groups of package workerman
// (Connection.BindUID, Worker.SendToUID...) over each real backend, as a
// daemon's processes would: two Processes of one worker, each with its
// own client through channel.Backend.

// uidApp is a text worker whose clients drive the uid API with command
// lines; each command is answered "ok <command>" after what it delivered
// to the sender itself.
func uidApp(url string) *workerman.Worker {
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.Name = "uidapp"
	if url != "" {
		w.Channel = channel.Backend(url, channel.Options{ReconnectInterval: 100 * time.Millisecond})
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		cmd, arg, _ := strings.Cut(string(m.Data), " ")
		to, text, _ := strings.Cut(arg, " ")
		var err error
		switch cmd {
		case "bind":
			c.BindUID(arg)
		case "join":
			c.JoinGroup(arg)
		case "leave":
			c.LeaveGroup(arg)
		case "touid":
			err = w.SendToUID(to, []byte(text))
		case "togroup":
			err = w.SendToGroup(to, []byte(text))
		case "toall":
			err = w.SendToAll([]byte(arg))
		case "online":
			w.IsUIDOnline(arg, func(online bool) { c.SendString("ok online " + strconv.FormatBool(online)) })
			return
		}
		if err != nil {
			c.SendString("error " + err.Error())
			return
		}
		c.SendString("ok " + cmd)
	}
	return w
}

type uidClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialUID(t *testing.T, w *workerman.Worker) *uidClient {
	c := workermantest.Dial(t, w)
	return &uidClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (u *uidClient) line() string {
	u.t.Helper()
	u.c.SetReadDeadline(time.Now().Add(waitLong))
	s, err := u.r.ReadString('\n')
	if err != nil {
		u.t.Fatalf("read: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

func (u *uidClient) expect(want string) {
	u.t.Helper()
	if got := u.line(); got != want {
		u.t.Fatalf("got %q, want %q", got, want)
	}
}

func (u *uidClient) do(cmd string) {
	u.t.Helper()
	if _, err := fmt.Fprintf(u.c, "%s\n", cmd); err != nil {
		u.t.Fatal(err)
	}
	name, _, _ := strings.Cut(cmd, " ")
	u.expect("ok " + name)
}

// quiet checks that nothing more arrives for a while: a duplicate would.
func (u *uidClient) quiet() {
	u.t.Helper()
	u.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if s, err := u.r.ReadString('\n'); err == nil || s != "" {
		u.t.Fatalf("want nothing more, read %q", s)
	}
}

// online polls IsUIDOnline from u until it says want: the way a test
// knows that another process's subscription is active on the backend.
func (u *uidClient) online(uid string, want bool) {
	u.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		fmt.Fprintf(u.c, "online %s\n", uid)
		if got := u.line() == "ok online "+strconv.FormatBool(want); got {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("IsUIDOnline(%s) never said %v", uid, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send writes a command without reading its answer.
func (u *uidClient) send(cmd string) {
	u.t.Helper()
	if _, err := fmt.Fprintf(u.c, "%s\n", cmd); err != nil {
		u.t.Fatal(err)
	}
}

func TestUIDsOverBackends(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv backendServer) {
		wa, wb := uidApp(srv.url()), uidApp(srv.url())
		workermantest.Start(t, wa)
		workermantest.Start(t, wb)
		a1, a2, a3 := dialUID(t, wa), dialUID(t, wa), dialUID(t, wa)
		b1, b2, b3 := dialUID(t, wb), dialUID(t, wb), dialUID(t, wb)

		// A uid with connections in both processes, two in A; a group
		// with a member in each. A client's subscriptions go out in
		// order, so once the other process sees a marker uid bound last,
		// the rest are active too.
		a1.do("bind alice")
		a2.do("bind alice")
		a2.do("join room")
		a3.do("bind mark-a")
		b1.do("bind alice")
		b1.do("join room")
		b3.do("bind mark-b")
		b2.online("mark-a", true)
		a1.online("mark-b", true)

		// Every connection of the uid gets a send once, from either
		// process; the sender's process delivers its own before it
		// answers.
		b2.do("touid alice from b")
		a1.expect("from b")
		a2.expect("from b")
		b1.expect("from b")
		a1.send("touid alice from a")
		a1.expect("from a")
		a1.expect("ok touid")
		a2.expect("from a")
		b1.expect("from a")

		// A group, and all.
		b2.do("togroup room to the room")
		a2.expect("to the room")
		b1.expect("to the room")
		a3.send("toall everyone")
		a3.expect("everyone")
		a3.expect("ok toall")
		for _, c := range []*uidClient{a1, a2, b1, b2, b3} {
			c.expect("everyone")
		}
		for _, c := range []*uidClient{a1, a2, a3, b1, b2, b3} {
			c.quiet()
		}

		// A closed connection leaves its uid and groups: once the last
		// of a process is gone, the other process no longer finds it.
		b2.online("alice", true)
		a3.online("mark-b", true)
		b3.c.Close()
		a3.online("mark-b", false)
		b2.send("togroup room after")
		b1.expect("after") // the sender's process
		b2.expect("ok togroup")
		a2.expect("after")
		a2.send("leave room")
		a2.expect("ok leave")
		b2.do("togroup room only b1")
		b1.expect("only b1")
		a2.quiet()
	})
}

// TestUIDBackendConnections checks that a uid costs the Redis backend no
// connection of its own: the worker's client subscribes per uid and keeps
// no BRPOP per event, which a publishLoop would need.
func TestUIDBackendConnections(t *testing.T) {
	srv := startRedis(t)
	w := uidApp(srv.url())
	workermantest.Start(t, w)
	c := dialUID(t, w)
	before := redisClients(t, srv.addr())
	for i := range 40 {
		c := dialUID(t, w)
		c.do(fmt.Sprintf("bind u%d", i))
	}
	c.online("u39", true) // local
	time.Sleep(300 * time.Millisecond)
	if after := redisClients(t, srv.addr()); after > before+2 {
		t.Fatalf("40 uids took Redis from %d to %d connections", before, after)
	}
}

// redisClients is Redis's connected_clients, our probe excluded.
func redisClients(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("INFO clients\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("INFO clients: %v", err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n - 1
		}
	}
}
