package test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// innerAsk sends msg to the inner listener at addr on a new connection and
// returns the pid of the process that answered ("msg pid").
func innerAsk(addr, msg string) (int, error) {
	c, err := dialClient(addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.ask(msg)
}

// ask sends msg on c and returns the pid in the inner listener's answer.
func (c *client) ask(msg string) (int, error) {
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return 0, err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the answer to %q: %w", msg, err)
	}
	pid, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), msg+" ")
	if !ok {
		return 0, fmt.Errorf("answer to %q: %q", msg, line)
	}
	return strconv.Atoi(pid)
}

// Run-time listeners (Worker.Listen, issue 12 §2) against the real binary:
// crashd's "inner" handler listens on a port from its options in
// OnWorkerStart of each of 2 processes. Both processes answer on the one
// port; a connection to it counts in the serving process's status row and
// is listed by connections; a reload keeps it served throughout (a bounded
// client loop sees no failure) and moves it to the new processes; after
// stop the port is free.
func TestRunTimeListener(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	d.writeConfig(worker("svc", "text://127.0.0.1:0", "inner", 2, "[worker.options]", fmt.Sprintf("port = %d", port)))
	d.start()
	st := d.waitReady("svc", 2)
	old := pidsOf(st.procs("svc"))

	// Both processes listen on the port (SO_REUSEPORT): connections from
	// different client ports reach each of them within a bounded number.
	seen := map[int]int{}
	for i := 0; i < 300 && len(seen) < 2; i++ {
		pid, err := innerAsk(addr, "hello")
		if err != nil {
			t.Fatalf("before reload: %v", err)
		}
		seen[pid]++
	}
	for pid := range seen {
		if !slices.Contains(old, pid) {
			t.Errorf("pid %d answered, not one of the worker's processes %v", pid, old)
		}
	}
	if len(seen) != 2 {
		t.Errorf("answers by pid %v over 300 connections, want both processes", seen)
	}

	// An open connection to the inner listener counts in its process's
	// status row, and connections lists it under the inner worker's name.
	c := dial(t, addr)
	pid, err := c.ask("held")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, slow(5*time.Second), "the inner connection in status and connections", func() (bool, string) {
		st, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		var row procDoc
		for _, p := range st.procs("svc") {
			if p.PID == pid {
				row = p
			}
		}
		if row.Connections != 1 {
			return false, fmt.Sprintf("status row of %d: %+v", pid, row)
		}
		r := d.run("connections", "--json")
		var rows []struct {
			PID    int    `json:"pid"`
			Worker string `json:"worker"`
			Local  string `json:"local"`
		}
		if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
			return false, fmt.Sprintf("connections --json: %v in %q", err, r.out)
		}
		for _, x := range rows {
			if x.PID == pid && x.Worker == "svc-inner" && x.Local == addr {
				return true, ""
			}
		}
		return false, r.out
	})
	c.Close()

	// A client loop, bounded in count and time, while the processes are
	// replaced: every connection is answered, by an old or a new process.
	var stop atomic.Bool
	var served, failed atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(slow(30 * time.Second))
		for i := 0; i < 20000 && !stop.Load() && time.Now().Before(deadline); i++ {
			if _, err := innerAsk(addr, "ping"); err != nil {
				failed.Add(1)
				lastErr.Store(err.Error())
			} else {
				served.Add(1)
			}
		}
	}()
	d.mustRun(0, "reload")
	waitFor(t, slow(15*time.Second), "two new processes", func() (bool, string) {
		st, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		ps := pidsOf(st.procs("svc"))
		return len(ps) == 2 && len(intersect(ps, old)) == 0, fmt.Sprint(ps)
	})
	waitGone(t, slow(10*time.Second), "the old processes", old...)
	stop.Store(true)
	wg.Wait()
	t.Logf("during reload: %d connections served, %d failed", served.Load(), failed.Load())
	// A run-time listener is the process's own SO_REUSEPORT socket: the
	// kernel resets a connection that lands in a closing one's queue
	// between its last accept and its close, unless tcp_migrate_req moves
	// it to a sibling (Linux ≥ 5.14; README says so). With it, nothing may
	// fail; without it, that window may cost a connection now and then.
	allowed := int64(0)
	if !migrateReq() {
		allowed = served.Load()/100 + 1
	}
	if failed.Load() > allowed || served.Load() == 0 {
		t.Errorf("during reload: %d served, %d failed, at most %d allowed with tcp_migrate_req=%v (last: %v)",
			served.Load(), failed.Load(), allowed, migrateReq(), lastErr.Load())
	}

	// After the reload only the new processes answer.
	fresh := pidsOf(d.mustStatus().procs("svc"))
	for range 50 {
		pid, err := innerAsk(addr, "after")
		if err != nil {
			t.Fatalf("after reload: %v", err)
		}
		if !slices.Contains(fresh, pid) {
			t.Fatalf("after reload pid %d answered, want one of %v", pid, fresh)
		}
	}

	// Stop closes the inner listeners with their processes: the port is
	// free for a socket without SO_REUSEPORT, as another program binds.
	d.mustRun(0, "stop")
	waitGone(t, slow(10*time.Second), "the processes", fresh...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("after stop %s is still bound: %v", addr, err)
	}
	ln.Close()
}

// pidsOf lists the pids of ps.
func pidsOf(ps []procDoc) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

// migrateReq reports whether the kernel moves the connections queued on a
// closing SO_REUSEPORT listener to a sibling (net.ipv4.tcp_migrate_req).
func migrateReq() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
