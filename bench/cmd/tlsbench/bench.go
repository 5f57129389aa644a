package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/workermand/workermand/bench/internal/httpserver"
	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/nginx"
	"github.com/workermand/workermand/bench/internal/proc"
	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/tlsload"
	"github.com/workermand/workermand/bench/internal/wrk"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

type bench struct {
	options
	self       string
	clkTck     int64
	tmp        string // removed at the end of the run
	cert, key  string // PEM files in tmp
	opensslEnv []string
	ng         *nginx.Nginx
	starts     int // servers started so far, to name their dirs

	https, wss, udp *runner.Comparison
}

func run(ctx context.Context, o options) (ok bool, err error) {
	b := &bench{options: o, clkTck: proc.ClockTicks()}
	if b.self, err = os.Executable(); err != nil {
		return false, fmt.Errorf("find own executable: %w", err)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return false, fmt.Errorf("taskset (util-linux) is needed to pin processes: %w", err)
	}
	if b.has("https") {
		if _, err := exec.LookPath(b.wrk); err != nil {
			return false, fmt.Errorf("wrk is needed (apt-get install wrk): %w", err)
		}
		if b.ng, err = nginx.Probe(b.nginx); err != nil {
			return false, fmt.Errorf("nginx is needed for the https group (apt-get install nginx, or -groups wss,udp): %w", err)
		}
	}
	nofile, err := runner.RaiseNoFile()
	if err != nil {
		return false, err
	}
	if uint64(b.idle)+64 > nofile {
		return false, fmt.Errorf("-idle %d needs more open files than the limit %d allows", b.idle, nofile)
	}
	if b.tmp, err = os.MkdirTemp("", "tlsbench-"); err != nil {
		return false, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(b.tmp)
	// nginx's worker may run as another user and must reach the files.
	if err := os.Chmod(b.tmp, 0o755); err != nil {
		return false, fmt.Errorf("temp dir: %w", err)
	}
	if b.cert, b.key, err = tlsload.WriteCert(b.tmp); err != nil {
		return false, err
	}
	conf := filepath.Join(b.tmp, "openssl.cnf")
	if err := os.WriteFile(conf, []byte(tlsload.OpenSSLConf), 0o644); err != nil {
		return false, fmt.Errorf("openssl config: %w", err)
	}
	b.opensslEnv = []string{"OPENSSL_CONF=" + conf}

	var groups []runner.Group
	if b.has("https") {
		b.https = runner.NewComparison([]string{"workermand", "nginx"})
		groups = append(groups, runner.Group{Comparison: b.https, Tests: []func(context.Context, string) error{b.httpsLoad, b.httpsIdle}})
	}
	if b.has("wss") {
		b.wss = runner.NewComparison([]string{"workermand", "gorilla"})
		groups = append(groups, runner.Group{Comparison: b.wss, Tests: []func(context.Context, string) error{b.wssEcho}})
	}
	if b.has("udp") {
		b.udp = runner.NewComparison([]string{"workermand", "gnet"})
		groups = append(groups, runner.Group{Comparison: b.udp, Tests: []func(context.Context, string) error{b.udpEcho}})
	}
	return runner.RunGroups(ctx, b.rounds, b.out, b.report, groups...)
}

func (b *bench) has(group string) bool { return slices.Contains(b.groups, group) }

// dir is a fresh directory for one server's files.
func (b *bench) dir(name string) (string, error) {
	b.starts++
	dir := filepath.Join(b.tmp, fmt.Sprintf("%s-%d", name, b.starts))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("server dir: %w", err)
	}
	return dir, nil
}

// startWorkermand starts `workermand start` in the foreground, pinned, with a
// config holding worker (a [[worker]] table with {addr}, count 1) and the
// master's files in a temp dir: a master and one child, the daemon as
// it is run, and the pair is measured together as nginx's master and
// worker are.
func (b *bench) startWorkermand(worker string, udp bool) (*runner.Server, func(), error) {
	d, err := runner.NewDaemon(b.workermand, "tlsbench", runner.DaemonConfig{Worker: worker, UDP: udp})
	if err != nil {
		return nil, nil, err
	}
	argv := []string{b.workermand, "start", "-c", d.Config}
	var s *runner.Server
	if udp {
		s, err = runner.StartUDP("workermand", runner.Pinned(context.Background(), b.serverCPU, argv, nil), d.Addr)
	} else {
		s, err = runner.StartServer("workermand", b.serverCPU, argv, nil, d.Addr)
	}
	if err != nil {
		d.Stop()
		return nil, nil, err
	}
	// d.Stop only removes the dir: the master is s, stopped first.
	return s, func() { s.Stop(); d.Stop() }, nil
}

// tlsTable is a [worker.tls] table with the run's certificate.
func (b *bench) tlsTable() string {
	return fmt.Sprintf("[worker.tls]\ncertificates = [ { cert_file = %q, key_file = %q } ]\n", b.cert, b.key)
}

// startHTTPS starts server's HTTPS hello world and checks its answer.
func (b *bench) startHTTPS(server string) (*runner.Server, func(), error) {
	var s *runner.Server
	stop := func() {}
	var err error
	switch server {
	case "workermand":
		s, stop, err = b.startWorkermand(`[[worker]]
name = "https"
listen = "https://{addr}"
handler = "respond"
count = 1
`+b.tlsTable()+`[worker.options]
body = "`+httpserver.Body+`"
`, false)
	case "nginx":
		s, err = runner.Launch(server, b.serverCPU, func(addr string) ([]string, []string, error) {
			dir, err := b.dir(server)
			if err != nil {
				return nil, nil, err
			}
			argv, err := b.ng.Command(nginx.Site{Addr: addr, Body: httpserver.Body, Cert: b.cert, Key: b.key}, dir)
			return argv, nil, err
		})
		if err == nil {
			stop = s.Stop
		}
	default:
		err = fmt.Errorf("unknown https server %q", server)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := b.verifyHTTPS(s.Addr); err != nil {
		stop()
		return nil, nil, fmt.Errorf("wrong answer, not measured: %w", err)
	}
	return s, stop, nil
}

// verifyHTTPS checks, through Go's client trusting only the run's
// certificate, that the server answers GET / with 200 and the body.
func (b *bench) verifyHTTPS(addr string) error {
	tcfg, err := tlsload.ClientConfig(b.cert)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: tcfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		return fmt.Errorf("GET: %w", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET: body: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(got) != httpserver.Body {
		return fmt.Errorf("GET: status %d, body %.40q; want 200 and %q", resp.StatusCode, got, httpserver.Body)
	}
	return nil
}

// Metric keys of the https group.
const (
	kaRate, kaCPU, kaBusy, kaWrk, kaOther      = "ka_rate", "ka_cpu", "ka_busy", "ka_wrk", "ka_other"
	newRate, newCPU, newBusy, newWrk, newOther = "new_rate", "new_cpu", "new_busy", "new_wrk", "new_other"
	rssBase, idleKiB                           = "rss_base", "idle_kib"
)

// httpsLoad runs the two wrk tests against one fresh server: keep-alive,
// then a new TLS connection per request (the server closes each after its
// response, so every request pays a full handshake: wrk resumes no
// session).
func (b *bench) httpsLoad(ctx context.Context, server string) error {
	s, stop, err := b.startHTTPS(server)
	if err != nil {
		return err
	}
	defer stop()
	for _, t := range []struct {
		name                            string
		close                           bool
		rate, cpu, busy, wrkBusy, other string
	}{
		{"keep-alive", false, kaRate, kaCPU, kaBusy, kaWrk, kaOther},
		{"new conn", true, newRate, newCPU, newBusy, newWrk, newOther},
	} {
		argv := func(d time.Duration) []string {
			a := []string{b.wrk, "-t1", "-c" + strconv.Itoa(b.conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s", "--timeout", "2s"}
			if t.close {
				a = append(a, "-H", "Connection: close")
			}
			return append(a, "https://"+s.Addr+"/")
		}
		smp, err := runner.Quietest(b.maxOther, retried(server, "https "+t.name, func() (wrk.Sample, error) {
			return wrk.Measure(ctx, wrk.Window{Server: s, ClkTck: b.clkTck, ServerCPU: b.serverCPU, LoadCPU: b.loadCPU,
				QuietWait: b.quietWait, Warmup: b.warmup, Duration: b.duration, Argv: argv, Env: b.opensslEnv})
		}), func(smp wrk.Sample) float64 { return smp.Others }, func(smp wrk.Sample) {
			runner.Logf("%-10s https %s: other work used %.0f%% of a core (over -max-other %.0f): measuring again", server, t.name, smp.Others, b.maxOther)
		})
		if err != nil {
			return fmt.Errorf("https %s: %w", t.name, err)
		}
		b.https.Add(server, t.rate, smp.RequestsPerSec)
		b.https.Add(server, t.cpu, smp.CPUPerReq)
		b.https.Add(server, t.busy, smp.ServerBusy)
		b.https.Add(server, t.wrkBusy, smp.WrkBusy)
		b.https.Add(server, t.other, smp.Others)
		runner.Logf("%-10s https %-10s %8.0f req/s, server %.2f µs/req, CPU busy: server %.0f%%, wrk %.0f%%, other %.0f%%",
			server, t.name, smp.RequestsPerSec, smp.CPUPerReq, smp.ServerBusy, smp.WrkBusy, smp.Others)
	}
	return nil
}

// httpsIdle measures RSS per idle TLS connection on a fresh server: RSS
// after start-up, then with b.idle connections open, each having made
// one keep-alive request (so the handshake is done and the server has
// served on it), read b.settle after the last one opened, late enough
// for the garbage of the handshakes to have been collected.
func (b *bench) httpsIdle(ctx context.Context, server string) error {
	s, stop, err := b.startHTTPS(server)
	if err != nil {
		return err
	}
	defer stop()
	base, loaded, connected, err := loadgen.IdleRSS(ctx, s, b.loadCPU, []string{b.self, "tlsload", "-ca", b.cert},
		b.idle, time.Second, b.settle)
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if connected < b.idle {
		return fmt.Errorf("idle: %d of %d connections opened", connected, b.idle)
	}
	per := float64(loaded-base) / float64(connected) / 1024
	b.https.Add(server, rssBase, float64(base)/(1<<20))
	b.https.Add(server, idleKiB, per)
	runner.Logf("%-10s https idle RSS %.1f MiB → %.1f MiB with %d TLS connections: %.2f KiB each",
		server, float64(base)/(1<<20), float64(loaded)/(1<<20), connected, per)
	return nil
}

// Metric keys of the echo groups.
const (
	echoRate, echoP50, echoP99, echoCPU, echoBusy, echoLoad, echoOther = "rate", "p50", "p99", "cpu", "busy", "load", "other"
)

// loadBench is where the echo generators run and for how long.
func (b *bench) loadBench() loadgen.Bench {
	return loadgen.Bench{ClkTck: b.clkTck, ServerCPU: b.serverCPU, LoadCPU: b.loadCPU, QuietWait: b.quietWait,
		Warmup: b.warmup, Duration: b.duration}
}

// addEcho records one echo window of a group.
func (b *bench) addEcho(c *runner.Comparison, group, server string, smp loadgen.Sample) {
	c.Add(server, echoRate, smp.MsgsPerSec)
	c.Add(server, echoP50, smp.P50us)
	c.Add(server, echoP99, smp.P99us)
	c.Add(server, echoCPU, smp.PerMsg())
	c.Add(server, echoBusy, smp.Busy())
	c.Add(server, echoLoad, smp.CPUBusy)
	if smp.Others >= 0 {
		c.Add(server, echoOther, smp.Others)
	}
	runner.Logf("%-10s %s echo %8.0f msgs/s, p99 %.0fµs, server %.3f µs/msg, CPU busy: server %.0f%%, generator %.0f%%, other %.0f%%",
		server, group, smp.MsgsPerSec, smp.P99us, smp.PerMsg(), smp.Busy(), smp.CPUBusy, smp.Others)
}

// quietest measures an echo window, again while other work disturbed it.
func (b *bench) quietest(group, server string, measure func() (loadgen.Sample, error)) (loadgen.Sample, error) {
	return runner.Quietest(b.maxOther, retried(server, group+" echo", measure), func(smp loadgen.Sample) float64 { return smp.Others }, func(smp loadgen.Sample) {
		runner.Logf("%-10s %s echo: other work used %.0f%% of a core (over -max-other %.0f): measuring again", server, group, smp.Others, b.maxOther)
	})
}

// wssEcho runs the websocket echo over TLS against one fresh server,
// checked first with gorilla's client.
func (b *bench) wssEcho(ctx context.Context, server string) error {
	var s *runner.Server
	stop := func() {}
	var err error
	switch server {
	case "workermand":
		s, stop, err = b.startWorkermand("[[worker]]\nname = \"wss\"\nlisten = \"wss://{addr}\"\nhandler = \"echo\"\ncount = 1\n"+b.tlsTable(), false)
	case "gorilla":
		s, err = runner.Launch(server, b.serverCPU, func(addr string) ([]string, []string, error) {
			// One core, said explicitly rather than left to the runtime
			// reading the affinity mask.
			return []string{b.self, "wsgorilla", "-addr", addr, "-cert", b.cert, "-key", b.key}, []string{"GOMAXPROCS=1"}, nil
		})
		if err == nil {
			stop = s.Stop
		}
	}
	if err != nil {
		return err
	}
	defer stop()
	tcfg, err := tlsload.ClientConfig(b.cert)
	if err != nil {
		return err
	}
	if err := wsserver.Verify("wss://"+s.Addr+"/", tcfg); err != nil {
		return fmt.Errorf("wss echo check: %w; output: %s", err, s.Out)
	}
	smp, err := b.quietest("wss", server, func() (loadgen.Sample, error) {
		return b.loadBench().Measure(ctx, s, []string{b.self, "wsload", "-tls", "-ca", b.cert, "-size", "64"}, loadgen.ReqResp, b.conns)
	})
	if err != nil {
		return fmt.Errorf("wss echo: %w", err)
	}
	b.addEcho(b.wss, "wss", server, smp)
	return nil
}

// udpEcho runs the datagram echo against one fresh server.
func (b *bench) udpEcho(ctx context.Context, server string) error {
	var s *runner.Server
	stop := func() {}
	var err error
	switch server {
	case "workermand":
		s, stop, err = b.startWorkermand("[[worker]]\nname = \"udp\"\nlisten = \"udp://{addr}\"\nhandler = \"echo\"\ncount = 1\n", true)
	case "gnet":
		s, err = runner.LaunchUDP(server, b.serverCPU, func(addr string) ([]string, []string, error) {
			return []string{b.self, "gnetudp", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
		})
		if err == nil {
			stop = s.Stop
		}
	}
	if err != nil {
		return err
	}
	defer stop()
	smp, err := b.quietest("udp", server, func() (loadgen.Sample, error) {
		return b.loadBench().Measure(ctx, s, []string{b.self, "udpload", "-size", "64"}, loadgen.ReqResp, b.conns)
	})
	if err != nil {
		return fmt.Errorf("udp echo: %w", err)
	}
	b.addEcho(b.udp, "udp", server, smp)
	return nil
}

// retried is measure tried up to three times while it fails: on a shared
// 2-core machine another tenant's burst can starve a server or the load
// into a timeout (wrk's is 2 s), which says nothing about the server. Each
// failure is logged; the third fails the measurement, so a server that
// really fails still shows in the table.
func retried[T any](server, test string, measure func() (T, error)) func() (T, error) {
	return func() (T, error) {
		smp, err := measure()
		for try := 2; err != nil && try <= 3; try++ {
			runner.Logf("%-10s %s failed (%v): trying again (%d of 3)", server, test, err, try)
			smp, err = measure()
		}
		return smp, err
	}
}
