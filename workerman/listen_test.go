package workerman_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// innerWorker is the manual's inner text worker (1.16.15, 1.16.17): it
// answers each line with the line and the name of the process that served
// it, and logs its callbacks.
func innerWorker(addr, served string, log *eventLog) *workerman.Worker {
	w := workerman.NewWorker(addr)
	w.Name = "inner"
	w.OnWorkerStart = func(*workerman.Worker) { log.add("inner start") }
	w.OnWorkerStop = func(*workerman.Worker) { log.add("inner stop") }
	w.OnClose = func(*workerman.Connection) { log.add("inner close") }
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		c.SendString(string(m.Data) + " " + served)
	}
	return w
}

// portFree reports whether addr can be bound without SO_REUSEPORT, as
// another program would bind it.
func portFree(t *testing.T, addr netip.AddrPort) bool {
	t.Helper()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestListenInOnWorkerStart: a worker built and Listen()ed in OnWorkerStart
// serves on the process's loop at once, counts in its Stats, is one of its
// Workers, gets no OnWorkerStart of its own, and is stopped and closed with
// the process, leaving the port free.
func TestListenInOnWorkerStart(t *testing.T) {
	var log eventLog
	inner := innerWorker("text://127.0.0.1:0", "p", &log)
	outer := workerman.NewWorker("text://127.0.0.1:0")
	outer.Name = "outer"
	outer.OnWorkerStart = func(*workerman.Worker) {
		if err := inner.Listen(); err != nil {
			log.add("listen: %v", err)
		}
	}
	p := workermantest.Start(t, outer)
	if !inner.Addr().IsValid() || inner.Addr().Port() == 0 {
		t.Fatalf("inner.Addr() = %v, want the bound address", inner.Addr())
	}
	c := dialWorker(t, inner)
	c.write("hello\n")
	c.expectLine("hello p")
	st := workermantest.OnLoopValue(t, p.Loop(), p.Loop().Stats)
	if st.Connections != 1 || st.TotalRequest != 1 {
		t.Errorf("Stats: %d connections, %d requests; want the inner listener's 1 and 1", st.Connections, st.TotalRequest)
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), inner.ConnectionCount); n != 1 {
		t.Errorf("inner.ConnectionCount() = %d, want 1", n)
	}
	if ws := workermantest.OnLoopValue(t, p.Loop(), p.Workers); len(ws) != 2 || ws[1] != inner {
		t.Errorf("Workers() = %d workers, want outer and inner", len(ws))
	}
	if inner.Loop() != p.Loop() {
		t.Error("the inner worker runs on another loop than its process")
	}
	workermantest.Stop(t, p)
	c.expectEOF()
	if got, want := strings.Join(log.events(), ","), "inner stop,inner close"; got != want {
		t.Errorf("events %q, want %q (no OnWorkerStart for a Listen()ed worker)", got, want)
	}
	if !portFree(t, inner.Addr()) {
		t.Errorf("%v still bound after the process stopped", inner.Addr())
	}
}

// TestListenSharedPortAcrossProcesses: two processes listen on one address
// with Listen, as each process of a worker with count > 1 does, and as the
// old and the new process do during a reload. Once the first stops (as a
// reloaded child does), every connection reaches the second and none is
// refused; when both are gone the port is free.
func TestListenSharedPortAcrossProcesses(t *testing.T) {
	var log eventLog
	var port netip.AddrPort
	start := func(name string) (*workerman.Process, *workerman.Worker) {
		addr := "text://127.0.0.1:0"
		if port.IsValid() {
			addr = "text://" + port.String()
		}
		inner := innerWorker(addr, name, &log)
		outer := workerman.NewWorker("text://127.0.0.1:0")
		outer.OnWorkerStart = func(*workerman.Worker) {
			if err := inner.Listen(); err != nil {
				t.Errorf("%s: Listen: %v", name, err)
			}
		}
		return workermantest.Start(t, outer), inner
	}
	old, inner := start("old")
	port = inner.Addr()
	fresh, _ := start("new")

	// SO_REUSEPORT spreads connections by hash of the client's address:
	// some reach each process within a bounded number of tries.
	seen := map[string]int{}
	for i := 0; i < 200 && (seen["old"] == 0 || seen["new"] == 0); i++ {
		c := dial(t, port)
		c.write("hi\n")
		line := c.readLine()
		seen[strings.TrimPrefix(line, "hi ")]++
		c.Close()
	}
	if seen["old"] == 0 || seen["new"] == 0 {
		t.Errorf("answers by process %v over 200 connections, want both", seen)
	}

	old.StopWhenQuiet(10*time.Millisecond, time.Second)
	workermantest.Wait(t, old)
	for i := range 50 {
		c := dial(t, port)
		c.write(fmt.Sprintf("after %d\n", i))
		c.expectLine(fmt.Sprintf("after %d new", i))
		c.Close()
	}
	if portFree(t, port) {
		t.Errorf("%v is free while the new process listens", port)
	}
	workermantest.Stop(t, fresh)
	if !portFree(t, port) {
		t.Errorf("%v still bound after both processes stopped", port)
	}
}

// TestListenErrors: Listen off the loop, on a bad address, on a port
// another program holds, on a Unix socket path, and twice, fails with the
// worker and the address in the error, and leaves the process as it was.
func TestListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0") // no SO_REUSEPORT
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	off := workerman.NewWorker("text://127.0.0.1:0")
	if err := off.Listen(); !errors.Is(err, workerman.ErrNotOnLoop) {
		t.Errorf("Listen off the loop: %v, want ErrNotOnLoop", err)
	}

	outer := workerman.NewWorker("text://127.0.0.1:0")
	p := workermantest.Start(t, outer)
	listen := func(w *workerman.Worker) error {
		return workermantest.OnLoopValue(t, p.Loop(), w.Listen)
	}
	for _, tc := range []struct {
		addr, transport, want string
		is                    error
	}{
		{addr: "text://" + taken.Addr().String(), want: "address in use by another program", is: syscall.EADDRINUSE},
		{addr: "text://localhost:99999", want: `"text://localhost:99999"`},
		{addr: "nosuchproto://127.0.0.1:0", want: "unknown protocol"},
		{addr: "text:///tmp/inner.sock", transport: "unix", want: "cannot be a Unix socket"},
	} {
		w := workerman.NewWorker(tc.addr)
		w.Name = "bad"
		w.Transport = tc.transport
		err := listen(w)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `worker "bad"`) {
			t.Errorf("Listen on %s: %v, want an error naming the worker and %s", tc.addr, err, tc.want)
		}
		if tc.is != nil && (!errors.Is(err, tc.is) || !errors.Is(err, workerman.ErrAddressInUse)) {
			t.Errorf("Listen on %s: %v, want errors.Is %v and ErrAddressInUse", tc.addr, err, tc.is)
		}
	}
	if ws := workermantest.OnLoopValue(t, p.Loop(), p.Workers); len(ws) != 1 {
		t.Errorf("after failed Listens the process has %d workers, want 1", len(ws))
	}

	// A worker whose Listen failed can listen once the port is free;
	// listening twice is refused.
	w := workerman.NewWorker("text://" + taken.Addr().String())
	if err := listen(w); err == nil {
		t.Fatal("Listen on a taken port succeeded")
	}
	taken.Close()
	if err := listen(w); err != nil {
		t.Fatalf("Listen once the port is free: %v", err)
	}
	if err := listen(w); err == nil || !strings.Contains(err.Error(), "belongs to a process already") {
		t.Errorf("second Listen: %v, want a refusal", err)
	}
}

// TestListenAfterStartAndUDP: Listen works from any loop callback, not only
// OnWorkerStart, and for a UDP worker too.
func TestListenAfterStartAndUDP(t *testing.T) {
	outer := workerman.NewWorker("text://127.0.0.1:0")
	p := workermantest.Start(t, outer)
	u := udpWorker("inner-udp")
	u.OnMessage = func(c *workerman.Connection, m workerman.Message) { c.SendString("udp " + string(m.Data)) }
	if err := workermantest.OnLoopValue(t, p.Loop(), u.Listen); err != nil {
		t.Fatalf("Listen a UDP worker: %v", err)
	}
	c := workermantest.Dial(t, u)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if got := readDatagram(t, c); got != "udp ping\n" {
		t.Errorf("answer %q, want %q", got, "udp ping\n")
	}
}

// TestListenRefusedWhileStopping: a process that stopped accepting (a
// retiring child) takes no new listener.
func TestListenRefusedWhileStopping(t *testing.T) {
	var log eventLog
	outer := workerman.NewWorker("text://127.0.0.1:0")
	outer.OnWorkerStop = func(*workerman.Worker) {
		if err := workerman.NewWorker("text://127.0.0.1:0").Listen(); err != nil {
			log.add("refused: %v", strings.Contains(err.Error(), "stopping"))
		}
	}
	p := workermantest.Start(t, outer)
	workermantest.Stop(t, p)
	if got := strings.Join(log.events(), ","); got != "refused: true" {
		t.Errorf("events %q, want Listen in OnWorkerStop refused", got)
	}
}
