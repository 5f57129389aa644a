package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The per-worker limits of the config: max_connections (over it a
// connection is accepted, closed at once and counted), idle_timeout (silent
// connections are closed, talkative ones kept) and max_requests (the child
// is replaced, new before old, with no request lost).
func TestWorkerLimits(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(
		worker("capped", "text://127.0.0.1:0", "echo", 1, "max_connections = 2"),
		worker("idle", "text://127.0.0.1:0", "echo", 1, `idle_timeout = "300ms"`),
		worker("recycled", "text://127.0.0.1:0", "echo", 1, "max_requests = 5"),
	)
	d.start()
	st := d.waitReady("capped", 1)
	st = d.waitReady("idle", 1)
	st = d.waitReady("recycled", 1)

	t.Run("max_connections", func(t *testing.T) {
		addr := st.addr("capped")
		a, b := dial(t, addr), dial(t, addr)
		a.mustEcho(t, "a")
		b.mustEcho(t, "b")
		c := dial(t, addr)
		took, data, err := c.waitEOF(slow(5 * time.Second))
		if err != nil || data != "" {
			t.Fatalf("third connection: %q, %v; want an immediate close", data, err)
		}
		if took > slow(time.Second) {
			t.Errorf("third connection closed after %s; want at once", took)
		}
		a.mustEcho(t, "a still served")
		waitFor(t, slow(5*time.Second), "the rejection in status", func() (bool, string) {
			s := d.mustStatus()
			p := s.procs("capped")
			if len(p) != 1 {
				return false, "no capped process"
			}
			return p[0].Rejected >= 1, "rejected " + itoa(int(p[0].Rejected))
		})
	})

	t.Run("idle_timeout", func(t *testing.T) {
		addr := st.addr("idle")
		quiet, talker := dial(t, addr), dial(t, addr)
		quiet.mustEcho(t, "q")
		start := time.Now()
		// The talker speaks every 100 ms for a second: it must stay.
		for time.Since(start) < time.Second {
			talker.mustEcho(t, "still here")
			time.Sleep(100 * time.Millisecond)
		}
		took, data, err := quiet.waitEOF(slow(5 * time.Second))
		if err != nil || data != "" {
			t.Fatalf("quiet connection: %q, %v; want it closed", data, err)
		}
		if total := time.Since(start) - time.Second + took; total > slow(3*time.Second) {
			t.Errorf("quiet connection closed %s after its last message; idle_timeout is 300ms", total)
		}
		talker.mustEcho(t, "talker kept")
	})

	t.Run("max_requests", func(t *testing.T) {
		addr := st.addr("recycled")
		before := st.procs("recycled")[0].PID
		for i := range 8 {
			if err := echoOnce(addr, "r"+itoa(i)); err != nil {
				t.Fatalf("request %d failed while the child was being replaced: %v", i, err)
			}
		}
		waitFor(t, slow(10*time.Second), "a replacement for the recycled child", func() (bool, string) {
			ps := d.mustStatus().procs("recycled")
			pids := make([]int, len(ps))
			for i, p := range ps {
				pids[i] = p.PID
			}
			return len(ps) == 1 && ps[0].PID != before && ps[0].ID == 0, "pids " + intsString(pids)
		})
		if err := echoOnce(addr, "after"); err != nil {
			t.Fatalf("the replacement does not serve: %v", err)
		}
		if slices.Contains(d.mustStatus().pids(), before) {
			t.Error("the old child is still there")
		}
	})
}

func intsString(v []int) string {
	s := ""
	for i, n := range v {
		if i > 0 {
			s += ","
		}
		s += itoa(n)
	}
	return s
}

// memory_limit becomes the Go runtime's soft memory limit in that worker's
// processes, and only there.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	d.writeConfig(
		worker("limited", "text://127.0.0.1:0", "introspect", 1, "memory_limit = 67108864"),
		worker("free", "text://127.0.0.1:0", "introspect", 1),
	)
	d.start()
	d.waitReady("limited", 1)
	st := d.waitReady("free", 1)
	for name, want := range map[string]string{"limited": "67108864", "free": "9223372036854775807"} {
		c := dial(t, st.addr(name))
		if _, err := c.Write([]byte("memlimit\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := c.r.ReadString('\n'); err != nil || line != want+"\n" {
			t.Errorf("%s: memory limit %q, %v; want %s", name, line, err, want)
		}
	}
}

// A child out of descriptors (EMFILE) keeps the connections it has, leaves
// the rest waiting in the backlog without spinning on them, still shows its
// memory in status (it read /proc at each status and showed 0 bytes), says
// in status that it is not accepting and why (open files against the
// limit), and serves the waiting ones once descriptors are free again.
func TestOutOfDescriptors(t *testing.T) {
	t.Parallel()
	prlimit := needTool(t, "prlimit")
	d := newDaemon(t, stockBin)
	// Every process of this daemon, the CLI included, gets at most 64
	// descriptors: the child cannot lift its soft limit past that.
	wrapper := filepath.Join(d.dir, "limited")
	writeFile(t, wrapper, fmt.Sprintf("#!/bin/sh\nexec %s --nofile=64:64 %s \"$@\"\n", prlimit, stockBin))
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	d.bin = wrapper
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	d.start()
	st := d.waitReady("echo", 1)
	addr := st.addr("echo")
	const opened = 80 // more than the child can hold
	conns := make([]*client, opened)
	for i := range conns {
		conns[i] = dial(t, addr)
		if _, err := conns[i].Write([]byte(fmt.Sprintf("conn %d\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	var served []int
	var waiting []int
	// One deadline for all: a connection not answered by then waits.
	answeredBy := time.Now().Add(slow(time.Second))
	for i, c := range conns {
		_ = c.SetReadDeadline(answeredBy)
		line, err := c.r.ReadString('\n')
		if err == nil && line == fmt.Sprintf("conn %d\n", i) {
			served = append(served, i)
			continue
		}
		waiting = append(waiting, i)
	}
	if len(served) == 0 || len(waiting) == 0 {
		t.Fatalf("%d connections served, %d waiting; want the child to run out of descriptors", len(served), len(waiting))
	}
	s := d.mustStatus()
	p := s.procs("echo")
	if len(p) != 1 || p[0].MemoryBytes == 0 || p[0].Connections != len(served) || p[0].Status != "idle" {
		t.Fatalf("status of a child out of descriptors: %+v; want its memory, %d connections, idle", p, len(served))
	}
	if c := p[0]; c.AcceptPaused != 1 || c.AcceptPauses == 0 || c.FDLimit != 64 || c.OpenFiles < 60 || c.OpenFiles > 64 {
		t.Errorf("status of a child out of descriptors: accept_paused %d, accept_pauses %d, open_files %d, fd_limit %d; want 1, some, about 64, 64",
			c.AcceptPaused, c.AcceptPauses, c.OpenFiles, c.FDLimit)
	}
	if r := d.run("status"); r.code != 0 || !regexp.MustCompile(`(?m)^`+strconv.Itoa(p[0].PID)+` +echo +0 +\d+ +64 +PAUSED \(out of descriptors\)`).MatchString(r.out) {
		t.Errorf("the status table does not show the child out of descriptors:\n%s", r)
	}
	// Waiting clients do not make it spin: accepting is retried ten times
	// a second, not at every wakeup of a readable listener.
	t0 := cpuTicks(t, p[0].PID)
	time.Sleep(time.Second)
	if used := cpuTicks(t, p[0].PID) - t0; used > 20 {
		t.Errorf("a child out of descriptors with %d clients waiting used %d clock ticks of CPU in a second", len(waiting), used)
	}
	// Free some descriptors: the waiting connections are accepted and
	// answered.
	for _, i := range served[:len(waiting)/2+1] {
		conns[i].Close()
	}
	i := waiting[0]
	_ = conns[i].SetReadDeadline(time.Now().Add(slow(10 * time.Second)))
	if line, err := conns[i].r.ReadString('\n'); err != nil || line != fmt.Sprintf("conn %d\n", i) {
		t.Fatalf("a connection that waited for a descriptor: %q, %v", line, err)
	}
	// Every client gone: the shortage is over, and status says so.
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, slow(5*time.Second), "status to show the child accepting again", func() (bool, string) {
		p := d.mustStatus().procs("echo")
		return len(p) == 1 && p[0].AcceptPaused == 0 && p[0].Connections == 0, fmt.Sprintf("%+v", p)
	})
	if r := d.run("status"); r.code != 0 || strings.Contains(r.out, "PAUSED") {
		t.Errorf("status still shows a pause:\n%s", r)
	}
	t.Logf("%d served at once, %d waited for a descriptor", len(served), len(waiting))
}

// cpuTicks is a process's user and system time in clock ticks
// (/proc/<pid>/stat fields 14 and 15).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err1 := strconv.Atoi(f[11])
	stime, err2 := strconv.Atoi(f[12])
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return utime + stime
}
