package master

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/counters"
	"github.com/workermand/workermand/internal/ipc"
)

// A counter added to package counters must be named as a metric here, as
// status --json shows it.
func TestEveryCounterHasAMetric(t *testing.T) {
	named := map[int]bool{}
	for _, d := range counterDefs {
		named[d.field] = true
		gaugeName := !strings.HasSuffix(d.name, "_total")
		if d.gauge != gaugeName {
			t.Errorf("%s: gauge %v, but the name says otherwise (_total is for counters)", d.key, d.gauge)
		}
	}
	ty := reflect.TypeFor[counters.Counters]()
	for i := range ty.NumField() {
		if !named[i] {
			t.Errorf("counters.Counters.%s has no metric in counterDefs", ty.Field(i).Name)
		}
	}
	// Gauges are the signed fields: they go down.
	for _, d := range counterDefs {
		if k := ty.Field(d.field).Type.Kind(); (k == reflect.Int) != d.gauge {
			t.Errorf("%s: gauge %v for a field of kind %s", d.key, d.gauge, k)
		}
	}
}

// fakeSnapshot: worker "web" with slot 0 replaced by a reload (the old
// process draining) and slot 1 busy; worker "api" idle; earlier processes
// of web exited having counted 100 requests.
func fakeSnapshot() *metricsSnapshot {
	retired := make([]float64, len(counterDefs))
	retired[defIndex("total_request")] = 100
	retired[defIndex("accepted")] = 10
	retired[defIndex("connections")] = 99 // a gauge: never added
	return &metricsSnapshot{
		report: &StatusReport{
			Master: MasterStatus{PID: 42, StartTime: "2026-01-02T03:04:05Z", Config: "/etc/app.toml"},
			Workers: []WorkerStatus{
				{Name: "api", Listen: "http://127.0.0.1:8080", Count: 1, ExitStatus: map[string]int{}},
				{Name: "web", Listen: "text://127.0.0.1:2347", Count: 2, ExitStatus: map[string]int{"exit 0": 2, "signal 9": 1}},
			},
			Processes: []ProcessStatus{
				{PID: 10, Worker: "api", ID: 0, Generation: 1, MemoryBytes: 1000, Status: "idle",
					Counters: counters.Counters{Connections: 1, TotalRequest: 7}},
				{PID: 11, Worker: "web", ID: 0, Generation: 1, MemoryBytes: 2000, Status: "draining",
					Counters: counters.Counters{Connections: 3, TotalRequest: 50, Accepted: 3}},
				{PID: 13, Worker: "web", ID: 0, Generation: 2, MemoryBytes: 3000, Status: "idle",
					Counters: counters.Counters{Connections: 2, TotalRequest: 5, Accepted: 2}},
				{PID: 12, Worker: "web", ID: 1, Generation: 1, MemoryBytes: 4000, Status: "busy", BusyForS: 2.5,
					Counters: counters.Counters{Connections: 1, TotalRequest: 20, Accepted: 1, ProtocolErrors: 4}},
			},
		},
		retired:  map[string][]float64{"web": retired},
		restarts: map[string]uint64{"web": 1},
		reloads:  map[string]uint64{"ok": 1},
	}
}

func defIndex(key string) int {
	for i, d := range counterDefs {
		if d.key == key {
			return i
		}
	}
	panic(key)
}

func TestMetricsCollector(t *testing.T) {
	snap := fakeSnapshot()
	c := newMetricsCollector("1.2.3", func(context.Context) (*metricsSnapshot, error) { return snap, nil })
	// Pedantic: what Collect sends must match what Describe declared.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP workermand_process_requests_total Messages delivered to the handler (requests, websocket messages, frames). The slot's current process.
# TYPE workermand_process_requests_total counter
workermand_process_requests_total{id="0",worker="api"} 7
workermand_process_requests_total{id="0",worker="web"} 5
workermand_process_requests_total{id="1",worker="web"} 20
# HELP workermand_worker_requests_total Messages delivered to the handler (requests, websocket messages, frames). The worker's live processes and those that exited.
# TYPE workermand_worker_requests_total counter
workermand_worker_requests_total{worker="api"} 7
workermand_worker_requests_total{worker="web"} 175
# HELP workermand_worker_connections Connections open now. The worker's live processes.
# TYPE workermand_worker_connections gauge
workermand_worker_connections{worker="api"} 1
workermand_worker_connections{worker="web"} 6
# HELP workermand_process_connections Connections open now. The slot's current process.
# TYPE workermand_process_connections gauge
workermand_process_connections{id="0",worker="api"} 1
workermand_process_connections{id="0",worker="web"} 2
workermand_process_connections{id="1",worker="web"} 1
# HELP workermand_worker_processes The worker's live processes by state: idle (answering), busy (not answering), draining (replaced, finishing its connections).
# TYPE workermand_worker_processes gauge
workermand_worker_processes{state="busy",worker="api"} 0
workermand_worker_processes{state="draining",worker="api"} 0
workermand_worker_processes{state="idle",worker="api"} 1
workermand_worker_processes{state="busy",worker="web"} 1
workermand_worker_processes{state="draining",worker="web"} 1
workermand_worker_processes{state="idle",worker="web"} 1
# HELP workermand_worker_exits_total Exits of the worker's processes by exit status ("exit 0", "signal 9"), expected or not.
# TYPE workermand_worker_exits_total counter
workermand_worker_exits_total{status="exit 0",worker="web"} 2
workermand_worker_exits_total{status="signal 9",worker="web"} 1
# HELP workermand_worker_restarts_total Unexpected exits of the worker's processes, each followed by a new process in the slot (after a back-off when crash-looping).
# TYPE workermand_worker_restarts_total counter
workermand_worker_restarts_total{worker="api"} 0
workermand_worker_restarts_total{worker="web"} 1
# HELP workermand_reloads_total Reloads by result: ok, failed (a new process could not start), refused (the new config has errors).
# TYPE workermand_reloads_total counter
workermand_reloads_total{result="failed"} 0
workermand_reloads_total{result="ok"} 1
workermand_reloads_total{result="refused"} 0
# HELP workermand_process_busy_seconds How long the slot's current process has not answered (its loop is blocked); 0 when it answers.
# TYPE workermand_process_busy_seconds gauge
workermand_process_busy_seconds{id="0",worker="api"} 0
workermand_process_busy_seconds{id="0",worker="web"} 0
workermand_process_busy_seconds{id="1",worker="web"} 2.5
# HELP workermand_process_info One per live process (draining ones included): its pid and generation.
# TYPE workermand_process_info gauge
workermand_process_info{generation="1",id="0",pid="10",worker="api"} 1
workermand_process_info{generation="1",id="0",pid="11",worker="web"} 1
workermand_process_info{generation="1",id="1",pid="12",worker="web"} 1
workermand_process_info{generation="2",id="0",pid="13",worker="web"} 1
# HELP workermand_worker_memory_bytes Memory of the worker's live processes: the sum of their resident set sizes.
# TYPE workermand_worker_memory_bytes gauge
workermand_worker_memory_bytes{worker="api"} 1000
workermand_worker_memory_bytes{worker="web"} 9000
# HELP workermand_master_info The master: its version, pid and config file.
# TYPE workermand_master_info gauge
workermand_master_info{config="/etc/app.toml",pid="42",version="1.2.3"} 1
# HELP workermand_master_start_time_seconds When the master started, in seconds since the epoch.
# TYPE workermand_master_start_time_seconds gauge
workermand_master_start_time_seconds 1.767323045e+09
`
	names := []string{"workermand_process_requests_total", "workermand_worker_requests_total", "workermand_worker_connections",
		"workermand_process_connections", "workermand_worker_processes", "workermand_worker_exits_total",
		"workermand_worker_restarts_total", "workermand_reloads_total", "workermand_process_busy_seconds",
		"workermand_process_info", "workermand_worker_memory_bytes", "workermand_master_info", "workermand_master_start_time_seconds"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}

	// A process that exits between the snapshot and its answer drops out
	// before it is retired: the worker's counter does not fall.
	snap = fakeSnapshot()
	snap.report.Processes = snap.report.Processes[:3] // pid 12 gone
	if got := gatherValue(t, reg, "workermand_worker_requests_total", "web"); got != 175 {
		t.Errorf("requests after a process dropped out: %v, want 175 (kept)", got)
	}
	// Once retired, it counts again and the total goes on from there.
	snap.retired["web"][defIndex("total_request")] += 21
	if got := gatherValue(t, reg, "workermand_worker_requests_total", "web"); got != 176 {
		t.Errorf("requests once retired: %v, want 176", got)
	}
	if got := gatherValue(t, reg, "workermand_worker_connections", "web"); got != 5 {
		t.Errorf("connections (a gauge, not kept high): %v, want 5", got)
	}
}

// gatherValue is the value of the named metric whose worker label is
// worker.
func gatherValue(t *testing.T, g prometheus.Gatherer, name, worker string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue(m, "worker") == worker {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{worker=%q}", name, worker)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// A failed snapshot fails the collector's part of the scrape, not the
// registry: the runtime metrics are still served.
func TestMetricsCollectorSnapshotError(t *testing.T) {
	c := newMetricsCollector("x", func(context.Context) (*metricsSnapshot, error) { return nil, errors.New("loop stuck") })
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "loop stuck") {
		t.Errorf("Gather: %v, want the snapshot's error", err)
	}
}

// An exited child's counters are kept for its worker (gauges excluded),
// and an unexpected exit counts a restart.
func TestMetricsExited(t *testing.T) {
	m := New(&config.Config{}, Options{})
	w := &config.Worker{Name: "web"}
	p := &proc{worker: w, lastStatus: ipc.ProcessStatus{Counters: counters.Counters{TotalRequest: 5, Connections: 2}}}
	m.metricsExited(p, false)
	m.metricsExited(p, true)
	if got := m.metrics.retired["web"][defIndex("total_request")]; got != 10 {
		t.Errorf("retired requests %v, want 10", got)
	}
	if got := m.metrics.retired["web"][defIndex("connections")]; got != 0 {
		t.Errorf("retired connections %v, want 0 (a gauge)", got)
	}
	if m.metrics.restarts["web"] != 1 {
		t.Errorf("restarts %d, want 1", m.metrics.restarts["web"])
	}
}

// The master serves the endpoint from Bind, takes the snapshot through its
// loop, and closes it when Run returns.
func TestMetricsEndpoint(t *testing.T) {
	cfg := &config.Config{Metrics: config.Metrics{Enabled: true, Listen: "127.0.0.1:0", Path: "/m"}}
	m := New(cfg, Options{Version: "9.9"})
	if err := m.Bind(); err != nil {
		t.Fatal(err)
	}
	url := m.MetricsURL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/m") || strings.HasSuffix(url, ":0/m") {
		t.Fatalf("MetricsURL %q", url)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx, nil) }()
	defer func() {
		cancel()
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}()
	body := get(t, url)
	for _, want := range []string{
		`workermand_master_info{config="",pid="`, `",version="9.9"} 1`,
		`workermand_reloads_total{result="ok"} 0`,
		"go_goroutines ", "process_resident_memory_bytes ", "promhttp_metric_handler_requests_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	if r, err := http.Get(strings.TrimSuffix(url, "/m") + "/other"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("another path: %v %v, want 404", r, err)
	} else {
		r.Body.Close()
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	ran <- nil
	if r, err := http.Get(url); err == nil {
		r.Body.Close()
		t.Error("the endpoint still answers after Run returned")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, r.StatusCode, err, b)
	}
	return string(b)
}
