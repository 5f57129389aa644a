package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pollEvery is the period of every poll loop.
const pollEvery = 20 * time.Millisecond

// slow scales a deadline for race-built binaries, which start and run
// several times slower.
func slow(d time.Duration) time.Duration {
	if raceBinaries {
		return 3 * d
	}
	return d
}

// waitFor polls cond every pollEvery until it reports true and returns how
// long that took; past timeout it fails the test with what and cond's last
// detail.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, detail)
		}
		time.Sleep(pollEvery)
	}
}

// daemon is one master under test: its own directory, config, pid file and
// control socket.
type daemon struct {
	t   *testing.T
	bin string
	dir string
	cfg string

	pidFile, sock, logFile, outFile string
	// globals are the config's global keys, rendered as key = value.
	globals map[string]string
	// env is added to the environment of every command. It starts with
	// markerEnv=<dir>, which the master and its children inherit: marked
	// finds them by it.
	env []string

	// st is shared by the copies that in makes for subtests.
	st *daemonState
}

type daemonState struct {
	mu     sync.Mutex
	master int            // the master's pid, once known
	seen   map[int]string // every child pid status showed → its start time
}

// in returns d for use by subtest t: its helpers fail t, not the parent.
func (d *daemon) in(t *testing.T) *daemon {
	c := *d
	c.t = t
	return &c
}

// newDaemon prepares a master running bin in a fresh directory; Cleanup
// stops it (and kills what is left of it) when the test ends.
func newDaemon(t *testing.T, bin string) *daemon {
	t.Helper()
	dir := tempDir(t)
	d := &daemon{
		t: t, bin: bin, dir: dir,
		cfg:     filepath.Join(dir, "wm.toml"),
		pidFile: filepath.Join(dir, "wm.pid"),
		sock:    filepath.Join(dir, "wm.sock"),
		logFile: filepath.Join(dir, "wm.log"),
		outFile: filepath.Join(dir, "stdout.log"),
		st:      &daemonState{seen: map[int]string{}},
	}
	d.env = []string{markerEnv + "=" + dir}
	d.globals = map[string]string{
		"pid_file":         strconv.Quote(d.pidFile),
		"control_socket":   strconv.Quote(d.sock),
		"log_file":         strconv.Quote(d.logFile),
		"stdout_file":      strconv.Quote(d.outFile),
		"stop_timeout":     `"2s"`,
		"graceful_timeout": `"30s"`,
	}
	t.Cleanup(d.cleanup)
	return d
}

// tempDir is a short (unix socket paths are limited to 108 bytes) directory
// that a child running as nobody can traverse, removed after the test.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wmt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// worker renders one [[worker]] table; extra lines are added as they are.
func worker(name, listen, handler string, count int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[worker]]\nname = %q\nlisten = %q\nhandler = %q\ncount = %d\n", name, listen, handler, count)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// writeConfig writes the globals and the given worker tables to the config.
func (d *daemon) writeConfig(workers ...string) {
	d.t.Helper()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(d.globals)) {
		fmt.Fprintf(&b, "%s = %s\n", k, d.globals[k])
	}
	for _, w := range workers {
		b.WriteString(w)
	}
	writeFile(d.t, d.cfg, b.String())
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// result is how a CLI command ended.
type result struct {
	args     []string
	code     int
	out, err string
	took     time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("workermand %s: exit %d after %s\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code,
		r.took.Round(time.Millisecond), r.out, r.err)
}

// cleanEnv is the test's environment without what would change how the
// CLI behaves: a config chosen by the environment, systemd's variables
// (under systemd, start -d does not daemonize), our own markers, and PWD
// (os/exec sets it to the command's directory).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "WORKERMAND_") || k == "NOTIFY_SOCKET" || k == "INVOCATION_ID" || strings.HasPrefix(k, "LISTEN_") || k == "PWD" {
			continue
		}
		env = append(env, kv)
	}
	if raceBinaries && os.Getenv("GORACE") == "" {
		// The race runtime sleeps a second at exit by default; every
		// child's and master's exit would.
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return env
}

// run runs the daemon's binary with args and -c <config>, in its directory.
func (d *daemon) run(args ...string) result {
	d.t.Helper()
	return d.runIn(90*time.Second, args...)
}

func (d *daemon) runIn(timeout time.Duration, args ...string) result {
	d.t.Helper()
	args = append(args, "-c", d.cfg)
	r := runBin(d.t, d.bin, d.dir, d.env, timeout, args...)
	return r
}

// runBin runs bin with args in dir and returns its exit code and output.
func runBin(t testing.TB, bin, dir string, env []string, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, out: out.String(), err: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	case ctx.Err() != nil:
		t.Fatalf("workermand %s: still running after %s", strings.Join(args, " "), timeout)
	default:
		t.Fatalf("workermand %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs a command that must exit with code.
func (d *daemon) mustRun(code int, args ...string) result {
	d.t.Helper()
	r := d.run(args...)
	if r.code != code {
		d.t.Fatalf("want exit %d from %s", code, r)
	}
	return r
}

// start runs `start -d`, which must succeed, and records the master's pid.
func (d *daemon) start() result {
	d.t.Helper()
	r := d.run("start", "-d")
	if r.code != 0 {
		d.t.Fatalf("start -d failed: %s\nlog:\n%s", r, d.logTail())
	}
	pid := d.pidFromFile()
	if pid <= 0 {
		d.t.Fatalf("start -d returned 0 but the pid file %s holds no pid", d.pidFile)
	}
	d.st.mu.Lock()
	d.st.master = pid
	d.st.mu.Unlock()
	return r
}

// pidFromFile reads the pid file (0 if missing or malformed).
func (d *daemon) pidFromFile() int {
	b, err := os.ReadFile(d.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// setMaster records the pid of a master started in the foreground.
func (d *daemon) setMaster(pid int) {
	d.st.mu.Lock()
	d.st.master = pid
	d.st.mu.Unlock()
}

// statusDoc is `status --json`, schema 1, decoded independently of the
// daemon's own types so that the field names are checked.
type statusDoc struct {
	Schema int `json:"schema"`
	Master struct {
		PID       int     `json:"pid"`
		StartTime string  `json:"start_time"`
		UptimeS   float64 `json:"uptime_s"`
		Version   string  `json:"version"`
		Config    string  `json:"config"`
		Program   string  `json:"program"`
	} `json:"master"`
	Workers   []workerDoc `json:"workers"`
	Processes []procDoc   `json:"processes"`
}

type workerDoc struct {
	Name       string         `json:"name"`
	Listen     string         `json:"listen"`
	Count      int            `json:"count"`
	ExitStatus map[string]int `json:"exit_status"`
}

type procDoc struct {
	PID            int     `json:"pid"`
	Worker         string  `json:"worker"`
	ID             int     `json:"id"`
	Generation     int     `json:"generation"`
	Listen         string  `json:"listen"`
	MemoryBytes    uint64  `json:"memory_bytes"`
	Connections    int     `json:"connections"`
	SendFail       uint64  `json:"send_fail"`
	Timers         int     `json:"timers"`
	TotalRequest   uint64  `json:"total_request"`
	Exceptions     uint64  `json:"exceptions"`
	Rejected       uint64  `json:"rejected"`
	SendTimeouts   uint64  `json:"send_timeouts"`
	Accepted       uint64  `json:"accepted"`
	ProtocolErrors uint64  `json:"protocol_errors"`
	AcceptPauses   uint64  `json:"accept_pauses"`
	AcceptPaused   int     `json:"accept_paused"`
	OpenFiles      int     `json:"open_files"`
	FDLimit        int     `json:"fd_limit"`
	QPS            float64 `json:"qps"`
	Status         string  `json:"status"`
	BusyForS       float64 `json:"busy_for_s"`

	// TLS workers.
	TLSHandshakes        uint64 `json:"tls_handshakes"`
	TLSHandshakeErrors   uint64 `json:"tls_handshake_errors"`
	TLSPlaintextRejected uint64 `json:"tls_plaintext_rejected"`
}

// status runs `status --json`; an exit other than 0 is an error.
func (d *daemon) status() (*statusDoc, error) {
	d.t.Helper()
	r := d.run("status", "--json")
	if r.code != 0 {
		return nil, fmt.Errorf("exit %d: %s", r.code, strings.TrimSpace(r.err))
	}
	var st statusDoc
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		return nil, fmt.Errorf("status --json: %v in %q", err, r.out)
	}
	d.st.mu.Lock()
	for _, p := range st.Processes {
		if _, ok := d.st.seen[p.PID]; !ok {
			d.st.seen[p.PID] = startTime(p.PID)
		}
	}
	if st.Master.PID > 0 && d.st.master == 0 {
		d.st.master = st.Master.PID
	}
	d.st.mu.Unlock()
	return &st, nil
}

func (d *daemon) mustStatus() *statusDoc {
	d.t.Helper()
	st, err := d.status()
	if err != nil {
		d.t.Fatalf("status: %v", err)
	}
	return st
}

// procs returns the processes of worker name, by slot id.
func (st *statusDoc) procs(name string) []procDoc {
	var out []procDoc
	for _, p := range st.Processes {
		if p.Worker == name {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b procDoc) int { return a.ID - b.ID })
	return out
}

func (st *statusDoc) worker(name string) workerDoc {
	for _, w := range st.Workers {
		if w.Name == name {
			return w
		}
	}
	return workerDoc{}
}

// pids lists the pids of every process in the report.
func (st *statusDoc) pids() []int {
	var out []int
	for _, p := range st.Processes {
		out = append(out, p.PID)
	}
	slices.Sort(out)
	return out
}

// addr is the host:port worker name is bound to (the real port for :0).
func (st *statusDoc) addr(name string) string {
	listen := st.worker(name).Listen
	if i := strings.Index(listen, "://"); i >= 0 {
		return listen[i+3:]
	}
	return listen
}

// waitReady polls status until worker name has count processes, every one
// idle, and returns that status.
func (d *daemon) waitReady(name string, count int) *statusDoc {
	d.t.Helper()
	var st *statusDoc
	waitFor(d.t, slow(10*time.Second), fmt.Sprintf("worker %s with %d idle processes", name, count), func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		ps := s.procs(name)
		if len(ps) != count {
			return false, fmt.Sprintf("%d processes: %+v", len(ps), ps)
		}
		for _, p := range ps {
			if p.Status != "idle" {
				return false, fmt.Sprintf("%+v", p)
			}
		}
		st = s
		return true, ""
	})
	return st
}

// running reports whether a master holds the pid-file lock, as `status`
// decides it: exit 3 means not running.
func (d *daemon) running() bool {
	d.t.Helper()
	r := d.run("status")
	return r.code != 3
}

// logTail is the end of the daemon's log and stdout files, for failures.
func (d *daemon) logTail() string {
	var b strings.Builder
	for _, f := range []string{d.logFile, d.outFile} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(data) > 6000 {
			data = data[len(data)-6000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s", filepath.Base(f), data)
	}
	return b.String()
}

// cleanup stops the master and kills, by pid, whatever of it is left.
func (d *daemon) cleanup() {
	t := d.t
	d.st.mu.Lock()
	master := d.st.master
	d.st.mu.Unlock()
	if fileExists(d.cfg) && fileExists(d.pidFile+".lock") {
		if r := runBin(t, d.bin, d.dir, d.env, 60*time.Second, "stop", "-c", d.cfg); r.code != 0 {
			t.Errorf("cleanup: %s", r)
		}
	}
	// stop returns once the master released its lock; it may take a few
	// more milliseconds to exit, and its children too.
	d.st.mu.Lock()
	seen := maps.Clone(d.st.seen)
	d.st.mu.Unlock()
	ours := func() []int {
		var left []int
		if master > 0 && alive(master) && strings.Contains(cmdline(master), d.cfg) {
			left = append(left, master)
		}
		for pid, started := range seen {
			// The same process (not a recycled pid): same start time.
			if alive(pid) && isChild(pid) && started != "" && startTime(pid) == started && !slices.Contains(left, pid) {
				left = append(left, pid)
			}
		}
		for _, pid := range d.marked() {
			if !slices.Contains(left, pid) {
				left = append(left, pid)
			}
		}
		return left
	}
	deadline := time.Now().Add(slow(5 * time.Second))
	left := ours()
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
		left = ours()
	}
	for _, pid := range left {
		t.Errorf("cleanup: process %d (%s) still alive after stop; killing it", pid, cmdline(pid))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if raceBinaries {
		for _, f := range []string{d.outFile, d.logFile, filepath.Join(d.dir, "foreground.err")} {
			if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte("WARNING: DATA RACE")) {
				t.Errorf("data race reported in %s:\n%s", filepath.Base(f), data)
			}
		}
	}
	if t.Failed() {
		t.Logf("daemon files:\n%s", d.logTail())
	}
}

// markerEnv marks the processes of one daemon (see daemon.env).
const markerEnv = "WMTEST_DAEMON"

// marked lists the live processes that inherited this daemon's marker:
// its master and children, whatever their parent now, and the CLI commands
// running for it.
func (d *daemon) marked() []int {
	want := []byte(markerEnv + "=" + d.dir + "\x00")
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, want) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state != 'Z' && state != 'X'
}

// startTime is field 22 of /proc/<pid>/stat, the process's start time in
// clock ticks since boot: with the pid, it names one process.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19] // fields after ")" start at field 3
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// isChild reports whether pid is a workermand child (its argv[0] says so).
func isChild(pid int) bool { return strings.HasPrefix(cmdline(pid), "workermand: worker ") }

// waitGone polls until none of pids is alive.
func waitGone(t testing.TB, timeout time.Duration, what string, pids ...int) time.Duration {
	t.Helper()
	return waitFor(t, timeout, what, func() (bool, string) {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		return len(left) == 0, fmt.Sprintf("still alive: %v", left)
	})
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// client is a line-protocol connection to a text worker.
type client struct {
	net.Conn
	r *bufio.Reader
}

// dial connects to addr; every read and write has a deadline of 10 s.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := dialClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialClient(addr string) (*client, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(slow(10 * time.Second)))
	return &client{Conn: c, r: bufio.NewReader(c)}, nil
}

// echo sends msg as a line and checks that it comes back.
func (c *client) echo(msg string) error {
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the echo of %q: %w", msg, err)
	}
	if line != msg+"\n" {
		return fmt.Errorf("echo of %q: got %q", msg, line)
	}
	return nil
}

func (c *client) mustEcho(t testing.TB, msg string) {
	t.Helper()
	if err := c.echo(msg); err != nil {
		t.Fatal(err)
	}
}

// echoOnce dials addr, echoes one line and closes.
func echoOnce(addr, msg string) error {
	c, err := dialClient(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.echo(msg)
}

// waitEOF reads from c until the peer closes it (EOF or a reset) and
// returns how long that took; any data read first is returned too.
func (c *client) waitEOF(timeout time.Duration) (time.Duration, string, error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(timeout))
	data, err := io.ReadAll(c.r)
	took := time.Since(start)
	if err == nil || errors.Is(err, syscall.ECONNRESET) {
		return took, string(data), nil
	}
	return took, string(data), err
}

// procStatusUID is the real uid in /proc/<pid>/status.
func procStatusUID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
		}
	}
	return -1, errors.New("no Uid line")
}

// intersect returns the elements of a that are also in b.
func intersect(a, b []int) []int {
	var out []int
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
