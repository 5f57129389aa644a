package test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hasKeys reports the keys of want missing from the JSON object m.
func missingKeys(m map[string]any, want ...string) []string {
	var out []string
	for _, k := range want {
		if _, ok := m[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// connRow is one row of `connections --json`.
type connRow struct {
	PID          int    `json:"pid"`
	Worker       string `json:"worker"`
	WorkerID     int    `json:"worker_id"`
	ID           uint64 `json:"id"`
	Transport    string `json:"transport"`
	Protocol     string `json:"protocol"`
	Local        string `json:"local"`
	Remote       string `json:"remote"`
	RecvQ        int    `json:"recv_q"`
	SendQ        int    `json:"send_q"`
	BytesRead    uint64 `json:"bytes_read"`
	BytesWritten uint64 `json:"bytes_written"`
	Status       string `json:"status"`
}

// status and connections, table and JSON, with live connections: the
// schema's fields, the real port of a :0 worker, connection counts that
// match the clients held open, each client's address listed.
func TestStatusAndConnections(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))
	d.start()
	d.waitReady("echo", 2)
	st := d.mustStatus()
	addr := st.addr("echo")
	if strings.HasSuffix(addr, ":0") || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("workers[0].listen = %q, want the bound address with its real port", st.worker("echo").Listen)
	}
	const n = 5
	clients := map[string]*client{}
	for i := range n {
		c := dial(t, addr)
		c.mustEcho(t, fmt.Sprintf("hello %d", i))
		clients[c.LocalAddr().String()] = c
	}

	// status --json, raw: the documented keys of schema 1.
	r := d.mustRun(0, "status", "--json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.out), &raw); err != nil {
		t.Fatal(err)
	}
	if miss := missingKeys(raw, "schema", "master", "workers", "processes"); miss != nil {
		t.Errorf("status --json lacks %v", miss)
	}
	if master, ok := raw["master"].(map[string]any); ok {
		if miss := missingKeys(master, "pid", "start_time", "uptime_s", "version", "config"); miss != nil {
			t.Errorf("master lacks %v", miss)
		}
	}
	if ws, ok := raw["workers"].([]any); ok && len(ws) > 0 {
		if miss := missingKeys(ws[0].(map[string]any), "name", "listen", "count", "exit_status"); miss != nil {
			t.Errorf("workers[0] lacks %v", miss)
		}
	}
	if ps, ok := raw["processes"].([]any); ok && len(ps) > 0 {
		if miss := missingKeys(ps[0].(map[string]any), "pid", "worker", "id", "generation", "listen", "memory_bytes",
			"connections", "send_fail", "timers", "total_request", "qps", "status", "accepted", "exceptions",
			"protocol_errors", "accept_pauses", "rejected", "send_timeouts"); miss != nil {
			t.Errorf("processes[0] lacks %v", miss)
		}
	}

	st = d.mustStatus()
	if st.Schema != 1 {
		t.Errorf("schema %d, want 1", st.Schema)
	}
	if st.Master.PID != d.pidFromFile() {
		t.Errorf("master.pid %d, pid file %d", st.Master.PID, d.pidFromFile())
	}
	if ts, err := time.Parse(time.RFC3339, st.Master.StartTime); err != nil || time.Since(ts) > time.Minute || time.Since(ts) < -time.Minute {
		t.Errorf("master.start_time %q: %v", st.Master.StartTime, err)
	}
	if st.Master.Config != d.cfg {
		t.Errorf("master.config %q, want %q", st.Master.Config, d.cfg)
	}
	if w := st.worker("echo"); w.Count != 2 || len(w.ExitStatus) != 0 {
		t.Errorf("workers[0] = %+v, want count 2 and no exits", w)
	}
	ps := st.procs("echo")
	if len(ps) != 2 {
		t.Fatalf("%d processes, want 2: %+v", len(ps), st.Processes)
	}
	total := 0
	perPID := map[int]int{}
	for i, p := range ps {
		if p.ID != i || p.Generation <= 0 || p.Listen != st.worker("echo").Listen || p.MemoryBytes == 0 ||
			p.Status != "idle" || !alive(p.PID) {
			t.Errorf("process %+v", p)
		}
		total += p.Connections
		if p.Connections > 0 {
			perPID[p.PID] = p.Connections
		}
	}
	if ps[0].Generation == ps[1].Generation {
		t.Errorf("two processes of generation %d", ps[0].Generation)
	}
	if total != n {
		t.Errorf("connections in status: %d, want the %d clients held open", total, n)
	}

	// connections --json: one row per client, with its address.
	r = d.mustRun(0, "connections", "--json")
	var rows []connRow
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("connections --json: %v in %q", err, r.out)
	}
	if len(rows) != n {
		t.Fatalf("connections --json: %d rows, want %d:\n%s", len(rows), n, r.out)
	}
	rowsPerPID := map[int]int{}
	for _, row := range rows {
		c := clients[row.Remote]
		if c == nil {
			t.Errorf("row for remote %s, which is none of our clients %v", row.Remote, slices.Sorted(maps.Keys(clients)))
			continue
		}
		want := uint64(len("hello 0\n"))
		if row.Worker != "echo" || row.Transport != "tcp" || row.Protocol != "text" || row.Local != addr ||
			row.BytesRead != want || row.BytesWritten != want || row.Status == "" || row.ID == 0 {
			t.Errorf("row %+v", row)
		}
		if !slices.Contains(st.pids(), row.PID) {
			t.Errorf("row of pid %d, not a process in status", row.PID)
		}
		rowsPerPID[row.PID]++
	}
	if !maps.Equal(rowsPerPID, perPID) {
		t.Errorf("connections per pid: rows %v, status %v", rowsPerPID, perPID)
	}

	// The tables.
	r = d.mustRun(0, "connections")
	if !strings.Contains(r.out, "remote") {
		t.Errorf("connections table has no header:\n%s", r.out)
	}
	for remote := range clients {
		if !strings.Contains(r.out, remote) {
			t.Errorf("connections table does not list %s:\n%s", remote, r.out)
		}
	}
	r = d.mustRun(0, "status")
	for _, want := range []string{"WORKERMAND STATUS", "master pid: " + strconv.Itoa(st.Master.PID), "PROCESS STATUS"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status table lacks %q:\n%s", want, r.out)
		}
	}
	for _, p := range ps {
		line := regexp.MustCompile(`(?m)^` + strconv.Itoa(p.PID) + `\s.*\[idle\]$`)
		if !line.MatchString(r.out) {
			t.Errorf("status table has no idle line for pid %d:\n%s", p.PID, r.out)
		}
	}
	summary := regexp.MustCompile(`(?m)^Summary\s+\S+\s+-\s+-\s+-\s+-\s+` + strconv.Itoa(n) + `\s`)
	if !summary.MatchString(r.out) {
		t.Errorf("status summary does not count %d connections:\n%s", n, r.out)
	}

	// A client leaves: the counts follow.
	for _, c := range clients {
		c.Close()
		break
	}
	waitFor(t, slow(5*time.Second), "status counting one connection less", func() (bool, string) {
		st, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		sum := 0
		for _, p := range st.Processes {
			sum += p.Connections
		}
		return sum == n-1, fmt.Sprintf("%d connections", sum)
	})
}

// A one-shot status shows qps > 0 while a client sends a steady stream of
// requests: the master keeps the rate, not the status command.
func TestStatusQPS(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 1))
	d.start()
	st := d.waitReady("echo", 1)
	c := dial(t, st.addr("echo"))
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100000 { // bounded; stops when the test has its answer
			select {
			case <-stop:
				return
			default:
			}
			if c.echo("req "+strconv.Itoa(i)) != nil {
				return
			}
			sent.Add(1)
			time.Sleep(2 * time.Millisecond) // a steady stream, ~400 requests per second
		}
	})
	stopStream := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopStream()
	var qps float64
	took := waitFor(t, slow(5*time.Second), "qps > 0 in a one-shot status", func() (bool, string) {
		st, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		qps = st.Processes[0].QPS
		return qps > 0, fmt.Sprintf("%+v", st.Processes)
	})
	t.Logf("qps %.0f shown %s into the stream (%d requests sent)", qps, took.Round(time.Millisecond), sent.Load())
	if r := d.mustRun(0, "status"); !regexp.MustCompile(`\[idle\]`).MatchString(r.out) {
		t.Errorf("status table:\n%s", r.out)
	}
	stopStream()
	st = d.mustStatus()
	if st.Processes[0].TotalRequest < uint64(sent.Load()) {
		t.Errorf("total_request %d < %d requests answered", st.Processes[0].TotalRequest, sent.Load())
	}
}

// A child whose loop is stuck in a callback shows as busy from the first
// status on, with the counters it reported before and how long its loop
// has been silent; status (and connections) answer within a second; the
// other worker is idle.
func TestStatusShowsBusyChild(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, crashBin)
	d.writeConfig(
		worker("busy", "text://127.0.0.1:0", "busy", 1),
		worker("echo", "text://127.0.0.1:0", "echo", 1),
	)
	d.start()
	st := d.waitReady("busy", 1)
	d.waitReady("echo", 1)
	busyPID := st.procs("busy")[0].PID
	c := dial(t, st.addr("busy"))
	for i := range 5 {
		c.mustEcho(t, fmt.Sprint("before ", i))
	}
	waitFor(t, slow(5*time.Second), "status counting the requests before the spin", func() (bool, string) {
		s := d.mustStatus()
		b := s.procs("busy")
		return len(b) == 1 && b[0].TotalRequest >= 5 && b[0].Connections == 1, fmt.Sprintf("%+v", b)
	})
	spin := slow(4000 * time.Millisecond)
	busyLine := fmt.Sprintf("busy %d\n", spin.Milliseconds())
	begin := time.Now()
	if _, err := c.Write([]byte(busyLine)); err != nil {
		t.Fatal(err)
	}
	// The loop picks the request up at once; from 400 ms on it owes
	// answers, and from the first status that says so, every status in
	// the spin must. A loaded machine may start the spin late, so the
	// first one is waited for rather than assumed after a fixed time.
	shown := waitFor(t, slow(3*time.Second), "the spinning child to show as busy", func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		b := s.procs("busy")
		return len(b) == 1 && b[0].Status == "busy", fmt.Sprintf("%+v", b)
	})
	t.Logf("busy shown %s after the request", shown.Round(time.Millisecond))
	var slowest time.Duration
	var busyFor []float64
	// Stop asking while a command started now surely ends inside the spin.
	for time.Since(begin) < spin-slow(1200*time.Millisecond)-300*time.Millisecond {
		r := d.run("status", "--json")
		slowest = max(slowest, r.took)
		if r.code != 0 {
			t.Fatalf("status during the spin: %s", r)
		}
		var s statusDoc
		if err := json.Unmarshal([]byte(r.out), &s); err != nil {
			t.Fatal(err)
		}
		b, e := s.procs("busy"), s.procs("echo")
		if len(b) != 1 || len(e) != 1 || b[0].PID != busyPID {
			t.Fatalf("processes during the spin: %+v", s.Processes)
		}
		if e[0].Status != "idle" {
			t.Errorf("the echo worker is %q while the other one spins", e[0].Status)
		}
		p := b[0]
		if p.Status != "busy" || p.BusyForS <= 0 {
			t.Fatalf("%s into the spin the child shows as %q (busy_for_s %v): %+v", time.Since(begin).Round(time.Millisecond), p.Status, p.BusyForS, p)
		}
		if p.TotalRequest < 5 || p.Connections != 1 || p.MemoryBytes == 0 {
			t.Errorf("a busy child shows %+v; want its last counters (5 requests, 1 connection) and its memory", p)
		}
		busyFor = append(busyFor, p.BusyForS)
		time.Sleep(100 * time.Millisecond)
	}
	if len(busyFor) < 2 || busyFor[len(busyFor)-1] <= busyFor[0] {
		t.Errorf("busy_for_s over the spin: %v; want it growing", busyFor)
	}
	if r := d.run("status"); r.code != 0 || !regexp.MustCompile(`\[busy \d+\.\ds\]`).MatchString(r.out) {
		t.Errorf("status table during the spin:\n%s", r)
	}
	if r := d.run("connections"); r.code != 0 {
		t.Errorf("connections while a child spins: %s", r)
	} else {
		slowest = max(slowest, r.took)
	}
	// The command's own start costs a little on top of the master's bound.
	if slowest > slow(1200*time.Millisecond) {
		t.Errorf("a status or connections command took %s while a child was busy; want under 1 s", slowest)
	}
	t.Logf("slowest control command while busy: %s; busy_for_s %v", slowest.Round(time.Millisecond), busyFor)
	// The spin ends; the request is answered and the child is idle again.
	if line, err := c.r.ReadString('\n'); err != nil || line != busyLine {
		t.Fatalf("answer after the spin: %q, %v", line, err)
	}
	d.waitReady("busy", 1)
}

// Every counter the loop keeps reaches status --json: a malformed packet
// (a frame length under 4) closes that one connection and is counted in
// protocol_errors, and accepted counts every connection, open or not.
func TestStatusCountsProtocolErrors(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("frames", "frame://127.0.0.1:0", "echo", 1))
	d.start()
	st := d.waitReady("frames", 1)
	frame := func(payload string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(4+len(payload)))
		return append(b, payload...)
	}
	good := []*client{dial(t, st.addr("frames")), dial(t, st.addr("frames"))}
	for i, c := range good {
		want := frame(fmt.Sprint("frame ", i))
		if _, err := c.Write(want); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c.r, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("echo of a frame: %q, %v", got, err)
		}
	}
	bad := dial(t, st.addr("frames"))
	if _, err := bad.Write([]byte{0, 0, 0, 1}); err != nil { // a length shorter than the length field
		t.Fatal(err)
	}
	if _, _, err := bad.waitEOF(slow(5 * time.Second)); err != nil {
		t.Fatalf("a malformed frame did not close its connection: %v", err)
	}
	waitFor(t, slow(5*time.Second), "status counting the malformed frame", func() (bool, string) {
		p := d.mustStatus().procs("frames")
		return len(p) == 1 && p[0].ProtocolErrors == 1 && p[0].Accepted == 3 && p[0].Connections == 2, fmt.Sprintf("%+v", p)
	})
}
