package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/httpserver"
	"github.com/workermand/workermand/bench/internal/nginx"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wrk"
)

// test is one wrk measurement.
type test struct {
	name      string
	conns     int
	path      string
	pipelined bool // the Lua script sends -depth requests per write
	static    bool // served from files; needs the static command
}

var tests = []test{
	{name: "pipelined", conns: 256, path: "/", pipelined: true},
	{name: "c100", conns: 100, path: "/"},
	{name: "c1000", conns: 1000, path: "/"},
	{name: "static4k", conns: 100, path: "/4k.bin", static: true},
	{name: "static1m", conns: 100, path: "/1m.bin", static: true},
}

func testNames() []string {
	names := make([]string, len(tests))
	for i, t := range tests {
		names[i] = t.name
	}
	return names
}

// sample is one measured wrk run against one server.
type sample struct {
	reqPerSec  float64
	mibPerSec  float64
	p50, p99   float64 // µs
	cpuPerReq  float64 // server µs per request
	serverBusy float64 // % of one core over the run
	wrkBusy    float64
	others     float64 // % of one core used on the two cores by neither
}

// cell gathers a server's samples of one test over the rounds.
type cell struct {
	samples []sample
	failed  int // rounds whose measurement failed
}

type bench struct {
	options
	self      string
	clkTck    int64
	tmp       string // removed at the end of the run
	staticDir string
	script    string // path of the pipelined Lua script

	ng    *nginx.Nginx // nil until probed
	notes []string     // shown under the table

	cells  map[string]map[string]*cell // test → server → results
	starts int                         // servers started so far, to name their dirs
}

func (b *bench) cell(t, s string) *cell {
	if b.cells[t] == nil {
		b.cells[t] = map[string]*cell{}
	}
	if b.cells[t][s] == nil {
		b.cells[t][s] = &cell{}
	}
	return b.cells[t][s]
}

func run(ctx context.Context, o options) (ok bool, err error) {
	b := &bench{options: o, clkTck: proc.ClockTicks(), cells: map[string]map[string]*cell{}}
	if b.self, err = os.Executable(); err != nil {
		return false, fmt.Errorf("find own executable: %w", err)
	}
	if err := b.preflight(); err != nil {
		return false, err
	}
	if n, err := runner.RaiseNoFile(); err != nil {
		runner.Logf("warning: %v; the c1000 test may run out of descriptors", err)
	} else if n < 4096 {
		runner.Logf("warning: open-files limit is %d; the c1000 test needs about 2100 (wrk + server)", n)
	}
	if b.tmp, err = os.MkdirTemp("", "httpbench-"); err != nil {
		return false, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(b.tmp)
	// nginx's worker may run as another user and must reach the files.
	if err := os.Chmod(b.tmp, 0o755); err != nil {
		return false, fmt.Errorf("temp dir: %w", err)
	}
	b.staticDir = filepath.Join(b.tmp, "static")
	if err := os.Mkdir(b.staticDir, 0o755); err != nil {
		return false, fmt.Errorf("static dir: %w", err)
	}
	if err := writeStaticFiles(b.staticDir); err != nil {
		return false, err
	}
	b.script = filepath.Join(b.tmp, "pipeline.lua")
	if err := os.WriteFile(b.script, []byte(wrk.PipelineScript(b.depth)), 0o644); err != nil {
		return false, fmt.Errorf("wrk script: %w", err)
	}

	start := time.Now()
	// Servers alternate within each round, so slow drifts in machine noise
	// (thermal, other tenants) hit all of them alike.
	for r := 1; r <= b.Rounds; r++ {
		for _, static := range []bool{false, true} {
			group := b.groupTests(static)
			if len(group) == 0 {
				continue
			}
			for _, s := range b.Servers {
				if !serves(s, static) {
					continue
				}
				if ctx.Err() != nil {
					return false, fmt.Errorf("interrupted: %w", ctx.Err())
				}
				b.serverRound(ctx, r, s, static, group)
			}
		}
	}
	runner.Logf("done in %s", time.Since(start).Round(time.Second))

	if err := runner.Report(b.report(), b.Out); err != nil {
		return false, err
	}
	for _, byServer := range b.cells {
		for _, c := range byServer {
			if c.failed > 0 {
				return false, nil
			}
		}
	}
	return ctx.Err() == nil, nil
}

// preflight fails early, with a hint, when a tool is missing, and drops
// nginx with a note when it is not installed.
func (b *bench) preflight() error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset (util-linux) is needed to pin processes: %w", err)
	}
	if _, err := exec.LookPath(b.wrk); err != nil {
		return fmt.Errorf("wrk is needed (apt-get install wrk): %w", err)
	}
	var keep []string
	for _, s := range b.Servers {
		switch s {
		case "nginx":
			if _, err := exec.LookPath(b.nginx); err != nil {
				note := fmt.Sprintf("nginx skipped: %v (apt-get install nginx-light or nginx)", err)
				runner.Logf("%s", note)
				b.notes = append(b.notes, note)
				continue
			}
			ng, err := nginx.Probe(b.nginx)
			if err != nil {
				return err
			}
			b.ng = ng
		case "workermand":
			for _, static := range []bool{false, true} {
				argv, _, err := b.command(s, static, "127.0.0.1:1", "")
				if err != nil {
					return err
				}
				if _, err := exec.LookPath(argv[0]); err != nil {
					return fmt.Errorf("workermand: %w (build it with `go build -o bin/workermand ./cmd/workermand` in the project root, or use -servers gnet,nginx,net)", err)
				}
			}
		}
		keep = append(keep, s)
	}
	if len(keep) == 0 {
		return fmt.Errorf("no server left to run")
	}
	b.Servers = keep
	return nil
}

// groupTests returns the selected tests of one group, in table order.
func (b *bench) groupTests(static bool) []test {
	var out []test
	for _, t := range tests {
		if t.static == static && slices.Contains(b.tests, t.name) {
			out = append(out, t)
		}
	}
	return out
}

// serverRound starts one fresh server for a test group, checks its
// answers, runs the group's tests against it and stops it. A failure
// fails the tests it prevented as well.
func (b *bench) serverRound(ctx context.Context, round int, name string, static bool, group []test) {
	fail := func(from int, err error) {
		for _, t := range group[from:] {
			b.cell(t.name, name).failed++
		}
		runner.Logf("round %d/%d %-10s FAILED: %v", round, b.Rounds, name, err)
	}
	s, err := runner.Launch(name, b.ServerCPU, func(addr string) ([]string, []string, error) {
		b.starts++
		dir := filepath.Join(b.tmp, fmt.Sprintf("%s-%d", name, b.starts))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("server dir: %w", err)
		}
		return b.command(name, static, addr, dir)
	})
	if err != nil {
		fail(0, err)
		return
	}
	defer s.Stop()
	if err := b.verify(s.Addr, static); err != nil {
		fail(0, fmt.Errorf("wrong answer, not measured: %w", err))
		return
	}
	if pids, err := proc.Tree(s.Pid()); err == nil && len(pids) > 1 {
		runner.Logf("%-10s processes %v (CPU is summed over all of them)", name, pids)
	}
	for i, t := range group {
		smp, err := runner.Quietest(b.maxOther, func() (sample, error) { return b.measure(ctx, s, t) },
			func(smp sample) float64 { return smp.others },
			func(smp sample) {
				runner.Logf("round %d/%d %-10s %-9s other work used %.0f%% of a core (over -max-other %.0f): measuring again",
					round, b.Rounds, name, t.name, smp.others, b.maxOther)
			})
		if err != nil {
			fail(i, fmt.Errorf("%s: %w", t.name, err))
			return
		}
		b.cell(t.name, name).samples = append(b.cell(t.name, name).samples, smp)
		extra := ""
		if t.static {
			extra = fmt.Sprintf(" %8.1f MiB/s", smp.mibPerSec)
		} else if !t.pipelined {
			extra = fmt.Sprintf(", p99 %.0fµs", smp.p99)
		}
		runner.Logf("round %d/%d %-10s %-9s %9.0f req/s%s, server %.3f µs/req, CPU busy: server %.0f%%, wrk %.0f%%, other %.0f%%",
			round, b.Rounds, name, t.name, smp.reqPerSec, extra, smp.cpuPerReq, smp.serverBusy, smp.wrkBusy, smp.others)
	}
}

// wrkArgv is the wrk command line of test t against addr for d.
func (b *bench) wrkArgv(t test, addr string, d time.Duration) []string {
	argv := []string{b.wrk, "-t1", "-c" + strconv.Itoa(t.conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s",
		"--timeout", "2s", "--latency"}
	if t.pipelined {
		argv = append(argv, "-s", b.script)
	}
	return append(argv, "http://"+addr+t.path)
}

// measure runs one warm-up and one measured wrk run of t against s.
func (b *bench) measure(ctx context.Context, s *runner.Server, t test) (sample, error) {
	w, err := wrk.Measure(ctx, wrk.Window{
		Server: s, ClkTck: b.clkTck, ServerCPU: b.ServerCPU, LoadCPU: b.LoadCPU,
		QuietWait: b.quietWait, Warmup: b.Warmup, Duration: b.Duration,
		Argv: func(d time.Duration) []string { return b.wrkArgv(t, s.Addr, d) },
	})
	if err != nil {
		return sample{}, err
	}
	smp := sample{
		reqPerSec:  w.RequestsPerSec,
		mibPerSec:  w.TransferPerSec / (1 << 20),
		cpuPerReq:  w.CPUPerReq,
		serverBusy: w.ServerBusy,
		wrkBusy:    w.WrkBusy,
		others:     w.Others,
	}
	if w.HasPercentiles {
		smp.p50 = float64(w.P50) / float64(time.Microsecond)
		smp.p99 = float64(w.P99) / float64(time.Microsecond)
	}
	return smp, nil
}

// verify checks, before anything is measured, that the server answers
// what it should, so a wrong server cannot win: one GET through Go's
// client per file, and for hello world also three requests pipelined in
// one write, whose responses must come back complete and in order.
func (b *bench) verify(addr string, static bool) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	check := func(path string, want []byte) error {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("GET %s: body: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			return fmt.Errorf("GET %s: status %d, %d-byte body %.40q; want 200 and %d bytes %.40q",
				path, resp.StatusCode, len(got), got, len(want), want)
		}
		return nil
	}
	if static {
		for _, f := range staticFiles {
			want, err := os.ReadFile(filepath.Join(b.staticDir, f.name))
			if err != nil {
				return fmt.Errorf("read back %s: %w", f.name, err)
			}
			if err := check("/"+f.name, want); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check("/", []byte(httpserver.Body)); err != nil {
		return err
	}
	return verifyPipelined(addr, 3)
}

func verifyPipelined(addr string, n int) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return fmt.Errorf("pipelined check: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	if _, err := io.WriteString(c, strings.Repeat(req, n)); err != nil {
		return fmt.Errorf("pipelined check: %w", err)
	}
	r := bufio.NewReader(c)
	for i := range n {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return fmt.Errorf("pipelined check: response %d of %d: %w", i+1, n, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != httpserver.Body {
			return fmt.Errorf("pipelined check: response %d of %d: status %d, body %.40q, %v", i+1, n, resp.StatusCode, body, err)
		}
	}
	return nil
}
