package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape GETs the metrics page; it must answer 200 within limit.
func scrape(t testing.TB, url string, limit time.Duration) (string, time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: limit}
	start := time.Now()
	r, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	took := time.Since(start)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %v\n%s", url, r.StatusCode, err, b)
	}
	return string(b), took
}

// metricValue is the value of the sample `series` (name{labels} exactly as
// the text format writes it, labels sorted); -1 when absent.
func metricValue(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// metricSum adds every sample of name whose labels contain the given
// label="value" pair.
func metricSum(text, name, label string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if strings.Contains(m[1], label) {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

// promtoolCheck runs `promtool check metrics` on the scraped text: its
// linter holds the names, types and help to Prometheus's conventions.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	bin := needTool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- scraped text:\n%s", err, out.String(), text)
	}
}

// TestMetrics: the master's Prometheus endpoint with real traffic. The
// numbers a user watches (open connections, requests) match what the
// clients did; promtool accepts the page; the master answers while a child
// is busy; a reload keeps the endpoint and the worker's totals, counts
// itself, and is refused when it would move the endpoint.
func TestMetrics(t *testing.T) {
	d := newDaemon(t, crashBin)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	metrics := fmt.Sprintf("\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", port)
	workers := []string{worker("echo", "text://127.0.0.1:0", "echo", 2), worker("busy", "text://127.0.0.1:0", "busy", 1)}
	d.writeConfig(append(workers, metrics)...)

	if r := d.mustRun(0, "check"); !strings.Contains(r.out, "metrics: "+url+"\n") {
		t.Errorf("check does not show the endpoint:\n%s", r.out)
	}
	d.start()
	st := d.waitReady("echo", 2)
	d.waitReady("busy", 1)
	var doc struct {
		Master struct {
			Metrics string `json:"metrics"`
		} `json:"master"`
	}
	if err := json.Unmarshal([]byte(d.mustRun(0, "status", "--json").out), &doc); err != nil || doc.Master.Metrics != url {
		t.Errorf("status --json master.metrics = %q (%v), want %s", doc.Master.Metrics, err, url)
	}

	// Three clients, four lines each, connections left open.
	var clients []*client
	for i := range 3 {
		c := dial(t, st.addr("echo"))
		clients = append(clients, c)
		for j := range 4 {
			c.mustEcho(t, fmt.Sprintf("hello %d %d", i, j))
		}
	}
	var text string
	waitFor(t, slow(5*time.Second), "the scrape to show 3 connections and 12 requests", func() (bool, string) {
		text, _ = scrape(t, url, 5*time.Second)
		conns := metricValue(text, `workermand_worker_connections{worker="echo"}`)
		reqs := metricValue(text, `workermand_worker_requests_total{worker="echo"}`)
		perSlot := metricSum(text, "workermand_process_connections", `worker="echo"`)
		return conns == 3 && reqs == 12 && perSlot == 3, fmt.Sprintf("connections %v (per slot %v), requests %v", conns, perSlot, reqs)
	})
	for series, want := range map[string]float64{
		`workermand_worker_connections_accepted_total{worker="echo"}`:                   3,
		`workermand_worker_processes{state="idle",worker="echo"}`:                       2,
		`workermand_worker_processes_configured{worker="echo"}`:                         2,
		`workermand_worker_restarts_total{worker="echo"}`:                               0,
		`workermand_reloads_total{result="ok"}`:                                         0,
		`workermand_worker_info{listen="text://` + st.addr("echo") + `",worker="echo"}`: 1,
	} {
		if got := metricValue(text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if n := metricSum(text, "workermand_process_requests_total", `worker="echo"`); n != 12 {
		t.Errorf("the echo slots' requests add up to %v, want 12", n)
	}
	if m := metricValue(text, `workermand_worker_memory_bytes{worker="echo"}`); m < 1<<20 {
		t.Errorf("echo's memory %v bytes: not a resident set size", m)
	}
	for _, p := range st.procs("echo") {
		series := fmt.Sprintf(`workermand_process_info{generation="%d",id="%d",pid="%d",worker="echo"}`, p.Generation, p.ID, p.PID)
		if metricValue(text, series) != 1 {
			t.Errorf("no %s", series)
		}
	}
	for _, want := range []string{"\ngo_goroutines ", "\nprocess_resident_memory_bytes ", "\nworkermand_master_info{"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", strings.TrimSpace(want))
		}
	}
	promtoolCheck(t, text)
	for _, c := range clients {
		c.Close()
	}

	// A child whose loop is stuck: the master still answers, within
	// status's timeout, and shows it busy.
	bc := dial(t, st.addr("busy"))
	defer bc.Close()
	if _, err := bc.Write([]byte("busy 4000\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, slow(3*time.Second), "the busy process in the scrape", func() (bool, string) {
		text, took := scrape(t, url, 5*time.Second)
		if took > slow(2*time.Second) {
			t.Errorf("a scrape took %s while a child was busy", took)
		}
		busy := metricValue(text, `workermand_worker_processes{state="busy",worker="busy"}`)
		secs := metricValue(text, `workermand_process_busy_seconds{id="0",worker="busy"}`)
		return busy == 1 && secs > 0, fmt.Sprintf("busy %v, busy_seconds %v, took %s", busy, secs, took)
	})
	waitFor(t, slow(10*time.Second), "the busy process to answer again", func() (bool, string) {
		text, _ := scrape(t, url, 5*time.Second)
		busy := metricValue(text, `workermand_worker_processes{state="busy",worker="busy"}`)
		return busy == 0, fmt.Sprintf("busy %v", busy)
	})

	// Moving the endpoint needs a restart: the reload is refused, and
	// counted.
	d.writeConfig(append(workers, fmt.Sprintf("\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", freePort(t)))...)
	r := d.mustRun(2, "reload")
	if !strings.Contains(r.err, "metrics.listen: cannot change on reload") || !strings.Contains(r.err, "restart to apply it") {
		t.Errorf("refused reload said: %s", r)
	}
	d.writeConfig(append(workers, metrics)...)
	d.mustRun(0, "reload")
	st2 := d.waitReady("echo", 2)
	if st2.procs("echo")[0].PID == st.procs("echo")[0].PID {
		t.Fatalf("the reload did not replace the echo processes")
	}
	// The old processes' requests stay in the worker's total; the new
	// slots' own counters start again.
	waitFor(t, slow(10*time.Second), "the reload's counts", func() (bool, string) {
		text, _ = scrape(t, url, 5*time.Second)
		reqs := metricValue(text, `workermand_worker_requests_total{worker="echo"}`)
		slots := metricSum(text, "workermand_process_requests_total", `worker="echo"`)
		ok := metricValue(text, `workermand_reloads_total{result="ok"}`)
		refused := metricValue(text, `workermand_reloads_total{result="refused"}`)
		exits := metricValue(text, `workermand_worker_exits_total{status="exit 0",worker="echo"}`)
		return reqs == 12 && slots == 0 && ok == 1 && refused == 1 && exits == 2,
			fmt.Sprintf("requests %v (slots %v), reloads ok %v refused %v, exits %v", reqs, slots, ok, refused, exits)
	})
	promtoolCheck(t, text)
}

// check reports a bad [metrics] table at its file:line:key, and a start
// whose metrics port is taken fails before any child runs.
func TestMetricsCheckAndBusyPort(t *testing.T) {
	d := newDaemon(t, stockBin)
	w := worker("echo", "text://127.0.0.1:0", "echo", 1)
	d.writeConfig(w, "\n[metrics]\nlisten = \"localhost:9100\"\npth = \"/m\"\n")
	r := d.mustRun(2, "check")
	for _, want := range []string{
		`wm.toml:15: metrics.listen: "localhost:9100": the host must be an IP address`,
		`wm.toml:16: metrics.pth: unknown key (did you mean "path"?)`,
	} {
		if !strings.Contains(r.err, want) {
			t.Errorf("check lacks %q:\n%s", want, r)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d.writeConfig(w, fmt.Sprintf("\n[metrics]\nlisten = %q\n", ln.Addr().String()))
	r = d.mustRun(1, "start", "-d")
	if !strings.Contains(r.err, "metrics: listen on "+ln.Addr().String()) || !strings.Contains(r.err, "address already in use") {
		t.Errorf("start with the metrics port taken: %s", r)
	}
	if d.running() {
		t.Error("a master runs without its metrics endpoint")
	}
}
