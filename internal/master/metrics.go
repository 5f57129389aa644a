package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/counters"
)

// The [metrics] endpoint: a Prometheus text page served by the master, so
// that it answers while every child is busy. A scrape takes the data of
// `status` through the same path (status's fan-out, with its timeout: a
// busy child shows its last counters), plus what only the master knows:
// exit statuses, restarts, reloads. docs/metrics.md lists the metrics.
//
// Series are per worker and per slot (worker, id), never per pid: a pid
// changes on every reload and restart, and each would leave a series behind
// in the scraper's database. The pid is in workermand_process_info.

const metricsNamespace = "workermand"

// metricsScrapeTimeout bounds how long a scrape waits for the master loop
// and the status fan-out (itself bounded by statusTimeout), so that a
// master stuck in something long still answers with its runtime metrics.
const metricsScrapeTimeout = 3 * time.Second

// metricsState is the master's part of the endpoint: the listener and what
// the collector cannot ask the children for. The maps belong to the master
// loop.
type metricsState struct {
	srv *http.Server
	ln  net.Listener // handed to a new master by an upgrade
	url string       // where it answers, with the bound port

	// retired sums, per worker, the counters (not the gauges) of its
	// children that exited, as they last reported them: with the live
	// children's, a worker's totals do not fall when a reload replaces
	// its processes.
	retired  map[string][]float64
	restarts map[string]uint64
	reloads  map[string]uint64 // by result: ok, failed, refused
}

// counterDef names one field of counters.Counters as a metric.
type counterDef struct {
	key   string // the field's JSON key
	name  string // the metric's name after workermand_process_ or workermand_worker_
	help  string
	gauge bool
	field int // index in counters.Counters
}

// counterDefs are the metrics of package counters, in its order. A counter
// added there must be named here (TestEveryCounterHasAMetric).
var counterDefs = mustCounterDefs([]counterDef{
	{key: "connections", name: "connections", help: "Connections open now.", gauge: true},
	{key: "accepted", name: "connections_accepted_total", help: "Connections accepted."},
	{key: "total_request", name: "requests_total", help: "Messages delivered to the handler (requests, websocket messages, frames)."},
	{key: "send_fail", name: "send_failures_total", help: "Sends dropped or failed (send buffer full, connection gone)."},
	{key: "exceptions", name: "exceptions_total", help: "Panics recovered from callbacks."},
	{key: "protocol_errors", name: "protocol_errors_total", help: "Connections closed for malformed input."},
	{key: "timers", name: "timers", help: "Timers pending now.", gauge: true},
	{key: "accept_pauses", name: "accept_pauses_total", help: "Times accepting paused for lack of file descriptors."},
	{key: "rejected", name: "connections_rejected_total", help: "Connections closed at accept because the listener was at max_connections."},
	{key: "send_timeouts", name: "send_timeouts_total", help: "Connections closed because their queued output made no progress for send_timeout."},
	{key: "accept_paused", name: "accept_paused", help: "Listeners not accepting now for lack of file descriptors.", gauge: true},
	{key: "open_files", name: "open_fds", help: "File descriptors open now.", gauge: true},
	{key: "fd_limit", name: "max_fds", help: "The open-files limit (RLIMIT_NOFILE, soft).", gauge: true},
	{key: "datagrams", name: "udp_datagrams_total", help: "UDP datagrams received."},
	{key: "datagrams_dropped", name: "udp_datagrams_dropped_total", help: "UDP datagrams dropped whole or in part (too large, cut short, not framed to the end)."},
	{key: "tls_handshakes", name: "tls_handshakes_total", help: "TLS handshakes completed."},
	{key: "tls_handshake_errors", name: "tls_handshake_errors_total", help: "TLS handshakes failed."},
	{key: "tls_handshake_timeouts", name: "tls_handshake_timeouts_total", help: "TLS connections closed for not finishing the handshake within handshake_timeout."},
	{key: "tls_plaintext_rejected", name: "tls_plaintext_rejected_total", help: "Connections to a TLS port that did not start with a TLS record."},
	{key: "tls_handshakes_in_flight", name: "tls_handshakes_in_flight", help: "TLS handshakes running now.", gauge: true},
})

func mustCounterDefs(defs []counterDef) []counterDef {
	fields := map[string]int{}
	t := reflect.TypeFor[counters.Counters]()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fields[key] = i
	}
	for i := range defs {
		f, ok := fields[defs[i].key]
		if !ok {
			panic("metrics: counters.Counters has no field with JSON key " + defs[i].key)
		}
		defs[i].field = f
	}
	return defs
}

// counterValues are c's fields in counterDefs' order.
func counterValues(c *counters.Counters) []float64 {
	v := reflect.ValueOf(c).Elem()
	out := make([]float64, len(counterDefs))
	for i, d := range counterDefs {
		switch f := v.Field(d.field); f.Kind() {
		case reflect.Int, reflect.Int64:
			out[i] = float64(f.Int())
		default:
			out[i] = float64(f.Uint())
		}
	}
	return out
}

// reloadResults are the values of workermand_reloads_total's result label,
// each exported from the start so that rate() sees the first one.
var reloadResults = []string{"ok", "failed", "refused"}

// bindMetrics binds the [metrics] listener and starts serving: at Bind, so
// that a busy port fails the start before any child runs. The listener is
// the master's for its life; a reload may not change it (config.Diff).
func (m *Master) bindMetrics() error {
	mc := m.cfg.Metrics
	if !mc.Enabled {
		return nil
	}
	ln, err := m.inheritedMetrics(mc.Listen)
	if ln == nil && err == nil {
		ln, err = net.Listen("tcp", mc.Listen)
	}
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", mc.Listen, err)
	}
	m.metrics.ln = ln
	host, _, _ := net.SplitHostPort(mc.Listen)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if host == "" {
		host = "0.0.0.0"
	}
	url := "http://" + net.JoinHostPort(host, port) + mc.Path

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newMetricsCollector(m.opts.Version, m.metricsSnapshot),
	)
	log := m.log.With(zap.String("metrics", url))
	errLog := zap.NewStdLog(log)
	h := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: errLog,
		// A failed part (the children's counters when the master loop
		// does not answer) is logged; the rest is still served.
		ErrorHandling: promhttp.ContinueOnError,
		// Each scrape fans out to every child, as status does.
		MaxRequestsInFlight: 4,
		Timeout:             metricsScrapeTimeout + time.Second,
	}))
	mux := http.NewServeMux()
	mux.Handle(mc.Path, h)
	m.metrics.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	m.metrics.url = url
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", zap.Error(err))
		}
	}(m.metrics.srv)
	log.Info("serving metrics")
	return nil
}

// inheritedMetrics is the metrics listener an old master handed over, if
// it listens where listen says (a port 0 takes whichever it has); nil
// otherwise, the inherited one closed.
func (m *Master) inheritedMetrics(listen string) (net.Listener, error) {
	in := m.opts.Inherit
	if in == nil || in.metrics == nil {
		return nil, nil
	}
	ln, err := net.FileListener(in.metrics)
	in.metrics.Close()
	in.metrics = nil
	if err != nil {
		return nil, fmt.Errorf("inherited listener: %w", err)
	}
	host, port, _ := net.SplitHostPort(listen)
	got, gotPort, _ := net.SplitHostPort(ln.Addr().String())
	if (port == "0" || port == gotPort) && (host == "" || host == got || net.ParseIP(host).Equal(net.ParseIP(got))) {
		return ln, nil
	}
	m.log.Info("metrics endpoint moved; closing the inherited listener", zap.String("was", ln.Addr().String()), zap.String("listen", listen))
	ln.Close()
	return nil, nil
}

// stopMetrics closes the endpoint when the master ends.
func (m *Master) stopMetrics() {
	if m.metrics.srv != nil {
		_ = m.metrics.srv.Close()
		m.metrics.srv = nil
	}
}

// MetricsURL is where the [metrics] endpoint answers (with the port bound),
// "" when it is off.
func (m *Master) MetricsURL() string { return m.metrics.url }

// metricsExited keeps what an exited child counted, on the master loop.
// restart: the slot will be filled again after an unexpected exit.
func (m *Master) metricsExited(p *proc, restart bool) {
	ms := &m.metrics
	if ms.retired == nil {
		ms.retired, ms.restarts = map[string][]float64{}, map[string]uint64{}
	}
	p.mu.Lock()
	last := p.lastStatus.Counters
	p.mu.Unlock()
	sum := ms.retired[p.worker.Name]
	if sum == nil {
		sum = make([]float64, len(counterDefs))
		ms.retired[p.worker.Name] = sum
	}
	for i, v := range counterValues(&last) {
		if !counterDefs[i].gauge {
			sum[i] += v
		}
	}
	if restart {
		ms.restarts[p.worker.Name]++
	}
}

// metricsReloaded counts a reload by result, on the master loop.
func (m *Master) metricsReloaded(result string) {
	if m.metrics.reloads == nil {
		m.metrics.reloads = map[string]uint64{}
	}
	m.metrics.reloads[result]++
}

// metricsSnapshot is what one scrape exports.
type metricsSnapshot struct {
	report   *StatusReport
	retired  map[string][]float64
	restarts map[string]uint64
	reloads  map[string]uint64
}

// metricsSnapshot takes the status report and the master's own counts
// together on the master loop, so that a child that exits is counted
// either as live or as retired.
func (m *Master) metricsSnapshot(ctx context.Context) (*metricsSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, metricsScrapeTimeout)
	defer cancel()
	got := make(chan *metricsSnapshot, 1)
	req := &request{internal: func() {
		ms := &m.metrics
		s := &metricsSnapshot{
			retired:  make(map[string][]float64, len(ms.retired)),
			restarts: make(map[string]uint64, len(ms.restarts)),
			reloads:  make(map[string]uint64, len(ms.reloads)),
		}
		for k, v := range ms.retired {
			s.retired[k] = append([]float64(nil), v...)
		}
		for k, v := range ms.restarts {
			s.restarts[k] = v
		}
		for k, v := range ms.reloads {
			s.reloads[k] = v
		}
		m.status(func(rep *StatusReport) {
			s.report = rep
			got <- s
		})
	}}
	select {
	case m.requests <- req:
	case <-m.done:
		return nil, errNotRunning
	case <-ctx.Done():
		return nil, fmt.Errorf("master loop did not take the request: %w", ctx.Err())
	}
	select {
	case s := <-got:
		return s, nil
	case <-m.done:
		return nil, errNotRunning
	case <-ctx.Done():
		return nil, fmt.Errorf("status: %w", ctx.Err())
	}
}

// metricsCollector exports a metricsSnapshot per scrape.
type metricsCollector struct {
	version  string
	snapshot func(context.Context) (*metricsSnapshot, error)

	procDescs, workerDescs []*prometheus.Desc // counterDefs' metrics
	procMemory, procBusy   *prometheus.Desc
	procInfo               *prometheus.Desc
	workerMemory           *prometheus.Desc
	workerProcs            *prometheus.Desc
	workerConfigured       *prometheus.Desc
	workerExits            *prometheus.Desc
	workerRestarts         *prometheus.Desc
	workerInfo             *prometheus.Desc
	reloads                *prometheus.Desc
	masterInfo             *prometheus.Desc
	masterStart            *prometheus.Desc

	// high keeps each worker's counters from going down: a child that
	// exits between the snapshot and its answer drops out of one scrape
	// before it is retired, and a retired child's last report is up to a
	// second old. A fall would read as a counter reset and inflate rate().
	mu   sync.Mutex
	high map[string][]float64
}

func newMetricsCollector(version string, snapshot func(context.Context) (*metricsSnapshot, error)) *metricsCollector {
	name := func(sub, n string) string { return prometheus.BuildFQName(metricsNamespace, sub, n) }
	slot := []string{"worker", "id"}
	worker := []string{"worker"}
	c := &metricsCollector{
		version:  version,
		snapshot: snapshot,
		procMemory: prometheus.NewDesc(name("process", "memory_bytes"),
			"Memory of the slot's current process: resident set size.", slot, nil),
		procBusy: prometheus.NewDesc(name("process", "busy_seconds"),
			"How long the slot's current process has not answered (its loop is blocked); 0 when it answers.", slot, nil),
		procInfo: prometheus.NewDesc(name("process", "info"),
			"One per live process (draining ones included): its pid and generation.", []string{"worker", "id", "pid", "generation"}, nil),
		workerMemory: prometheus.NewDesc(name("worker", "memory_bytes"),
			"Memory of the worker's live processes: the sum of their resident set sizes.", worker, nil),
		workerProcs: prometheus.NewDesc(name("worker", "processes"),
			"The worker's live processes by state: idle (answering), busy (not answering), draining (replaced, finishing its connections).",
			[]string{"worker", "state"}, nil),
		workerConfigured: prometheus.NewDesc(name("worker", "processes_configured"),
			"The worker's count: how many processes it should have.", worker, nil),
		workerExits: prometheus.NewDesc(name("worker", "exits_total"),
			"Exits of the worker's processes by exit status (\"exit 0\", \"signal 9\"), expected or not.", []string{"worker", "status"}, nil),
		workerRestarts: prometheus.NewDesc(name("worker", "restarts_total"),
			"Unexpected exits of the worker's processes, each followed by a new process in the slot (after a back-off when crash-looping).", worker, nil),
		workerInfo: prometheus.NewDesc(name("worker", "info"),
			"One per configured worker: its listen address.", []string{"worker", "listen"}, nil),
		reloads: prometheus.NewDesc(name("", "reloads_total"),
			"Reloads by result: ok, failed (a new process could not start), refused (the new config has errors).", []string{"result"}, nil),
		masterInfo: prometheus.NewDesc(name("master", "info"),
			"The master: its version, pid and config file.", []string{"version", "pid", "config"}, nil),
		masterStart: prometheus.NewDesc(name("master", "start_time_seconds"),
			"When the master started, in seconds since the epoch.", nil, nil),
		high: map[string][]float64{},
	}
	for _, d := range counterDefs {
		c.procDescs = append(c.procDescs, prometheus.NewDesc(name("process", d.name), d.help+" The slot's current process.", slot, nil))
		help := d.help + " The worker's live processes"
		if !d.gauge {
			help += " and those that exited"
		}
		c.workerDescs = append(c.workerDescs, prometheus.NewDesc(name("worker", d.name), help+".", worker, nil))
	}
	return c
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.procDescs {
		ch <- d
	}
	for _, d := range c.workerDescs {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.procMemory, c.procBusy, c.procInfo, c.workerMemory, c.workerProcs,
		c.workerConfigured, c.workerExits, c.workerRestarts, c.workerInfo, c.reloads, c.masterInfo, c.masterStart} {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.snapshot(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.masterInfo, fmt.Errorf("workermand status: %w", err))
		return
	}
	rep := s.report
	ch <- prometheus.MustNewConstMetric(c.masterInfo, prometheus.GaugeValue, 1,
		c.version, strconv.Itoa(rep.Master.PID), rep.Master.Config)
	if t, err := time.Parse(time.RFC3339, rep.Master.StartTime); err == nil {
		ch <- prometheus.MustNewConstMetric(c.masterStart, prometheus.GaugeValue, float64(t.Unix()))
	}
	for _, r := range reloadResults {
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(s.reloads[r]), r)
	}

	type workerSum struct {
		values []float64
		memory float64
		states map[string]int
	}
	sums := map[string]*workerSum{}
	for _, w := range rep.Workers {
		sums[w.Name] = &workerSum{values: make([]float64, len(counterDefs)), states: map[string]int{}}
	}
	// The slot's current process is its newest generation: a replacement
	// shows only once ready, and the one it replaced is then draining.
	current := map[[2]string]ProcessStatus{}
	for _, p := range rep.Processes {
		id := strconv.Itoa(p.ID)
		ch <- prometheus.MustNewConstMetric(c.procInfo, prometheus.GaugeValue, 1,
			p.Worker, id, strconv.Itoa(p.PID), strconv.Itoa(p.Generation))
		k := [2]string{p.Worker, id}
		if cur, ok := current[k]; !ok || p.Generation > cur.Generation {
			current[k] = p
		}
		ws := sums[p.Worker]
		if ws == nil {
			continue // a worker a reload dropped, still draining
		}
		for i, v := range counterValues(&p.Counters) {
			ws.values[i] += v
		}
		ws.memory += float64(p.MemoryBytes)
		ws.states[p.Status]++
	}
	for k, p := range current {
		for i, v := range counterValues(&p.Counters) {
			ch <- prometheus.MustNewConstMetric(c.procDescs[i], valueType(counterDefs[i]), v, k[0], k[1])
		}
		ch <- prometheus.MustNewConstMetric(c.procMemory, prometheus.GaugeValue, float64(p.MemoryBytes), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(c.procBusy, prometheus.GaugeValue, p.BusyForS, k[0], k[1])
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range rep.Workers {
		ws := sums[w.Name]
		high := c.high[w.Name]
		if high == nil {
			high = make([]float64, len(counterDefs))
			c.high[w.Name] = high
		}
		retired := s.retired[w.Name]
		for i, d := range counterDefs {
			v := ws.values[i]
			if !d.gauge {
				if retired != nil {
					v += retired[i]
				}
				v = max(v, high[i])
				high[i] = v
			}
			ch <- prometheus.MustNewConstMetric(c.workerDescs[i], valueType(d), v, w.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.workerMemory, prometheus.GaugeValue, ws.memory, w.Name)
		for _, st := range []string{"idle", "busy", "draining"} {
			ch <- prometheus.MustNewConstMetric(c.workerProcs, prometheus.GaugeValue, float64(ws.states[st]), w.Name, st)
		}
		ch <- prometheus.MustNewConstMetric(c.workerConfigured, prometheus.GaugeValue, float64(w.Count), w.Name)
		for status, n := range w.ExitStatus {
			ch <- prometheus.MustNewConstMetric(c.workerExits, prometheus.CounterValue, float64(n), w.Name, status)
		}
		ch <- prometheus.MustNewConstMetric(c.workerRestarts, prometheus.CounterValue, float64(s.restarts[w.Name]), w.Name)
		ch <- prometheus.MustNewConstMetric(c.workerInfo, prometheus.GaugeValue, 1, w.Name, w.Listen)
	}
}

func valueType(d counterDef) prometheus.ValueType {
	if d.gauge {
		return prometheus.GaugeValue
	}
	return prometheus.CounterValue
}
