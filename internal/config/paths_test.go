package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/config"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFind walks the search order: -c, $WORKERMAND_CONFIG,
// ./workermand.toml, /etc/workermand/workermand.toml, the embedded default.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	flagFile := filepath.Join(dir, "flag.toml")
	envFile := filepath.Join(dir, "env.toml")
	cwd := filepath.Join(dir, "cwd")
	localFile := filepath.Join(cwd, "workermand.toml")
	systemFile := filepath.Join(dir, "etc", "workermand.toml")
	defer config.SetSystemConfig(systemFile)()
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	t.Setenv(config.EnvConfig, "")

	find := func(flag string) (string, bool, error) { t.Helper(); return config.Find(flag) }
	expect := func(flag, want string) {
		t.Helper()
		path, embedded, err := find(flag)
		if err != nil || path != want || embedded != (want == "") {
			t.Errorf("Find(%q) = %q, %v, %v; want %q", flag, path, embedded, err, want)
		}
	}

	expect("", "") // nothing anywhere: embedded
	writeFile(t, systemFile, w0)
	expect("", systemFile)
	writeFile(t, localFile, w0)
	expect("", localFile)
	writeFile(t, envFile, w0)
	t.Setenv(config.EnvConfig, envFile)
	expect("", envFile)
	writeFile(t, flagFile, w0)
	expect(flagFile, flagFile)

	// A relative -c is made absolute.
	writeFile(t, filepath.Join(cwd, "rel.toml"), w0)
	expect("rel.toml", filepath.Join(cwd, "rel.toml"))

	// Files named explicitly must exist; no falling back.
	if _, _, err := find(filepath.Join(dir, "nope.toml")); err == nil || !strings.Contains(err.Error(), "(from -c): no such file") {
		t.Errorf("missing -c file: %v", err)
	}
	t.Setenv(config.EnvConfig, filepath.Join(dir, "nope.toml"))
	if _, _, err := find(""); err == nil || !strings.Contains(err.Error(), "(from $WORKERMAND_CONFIG)") {
		t.Errorf("missing $WORKERMAND_CONFIG file: %v", err)
	}
	t.Setenv(config.EnvConfig, "")

	// A directory where a file should be is an error, not skipped.
	os.Remove(localFile)
	os.Mkdir(localFile, 0o755)
	if _, _, err := find(""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory ./workermand.toml: %v", err)
	}
	if _, _, err := find(dir); err == nil {
		t.Error("-c DIRECTORY accepted")
	}
	os.Remove(localFile)
	expect("", systemFile)
}

func TestRuntimeDir(t *testing.T) {
	restore := config.SetIDs(0, 0)
	if got := config.RuntimeDir(); got != "/run/workermand" {
		t.Errorf("root: %q", got)
	}
	restore()
	defer config.SetIDs(1000, 1000)()
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got := config.RuntimeDir(); got != "/run/user/1000/workermand" {
		t.Errorf("XDG: %q", got)
	}
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_RUNTIME_DIR", xdg)
		if got, want := config.RuntimeDir(), filepath.Join(os.TempDir(), "workermand-1000"); got != want {
			t.Errorf("XDG_RUNTIME_DIR=%q: %q, want %q", xdg, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	defer config.SetIDs(0, 0)()
	dir := t.TempDir()
	path := filepath.Join(dir, "conf.d", "shop.api.toml")
	writeFile(t, path, w0)
	c, err := config.Load(path, testHooks)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseName() != "shop.api" {
		t.Errorf("BaseName = %q", c.BaseName())
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if c.PidFile != "/run/workermand/shop.api.pid" || c.ControlSocket != "/run/workermand/shop.api.sock" ||
		c.LogFile != "" || c.StdoutFile != "/dev/null" {
		t.Errorf("defaults: pid %q sock %q log %q stdout %q", c.PidFile, c.ControlSocket, c.LogFile, c.StdoutFile)
	}

	// Relative paths are relative to the config file, absolute ones stay.
	writeFile(t, path, "pid_file = \"run/x.pid\"\nlog_file = \"../log/x.log\"\nstdout_file = \"/var/log/out\"\ncontrol_socket = \"x.sock\"\n"+w0)
	c, err = config.Load(path, testHooks)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		if c.PidFile != filepath.Join(dir, "conf.d/run/x.pid") || c.LogFile != filepath.Join(dir, "log/x.log") ||
			c.StdoutFile != "/var/log/out" || c.ControlSocket != filepath.Join(dir, "conf.d/x.sock") {
			t.Errorf("resolved: pid %q log %q stdout %q sock %q", c.PidFile, c.LogFile, c.StdoutFile, c.ControlSocket)
		}
	}

	// The embedded default is named workermand; relative paths follow the
	// working directory.
	t.Chdir(dir)
	c = config.Default()
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if c.BaseName() != "workermand" || c.PidFile != "/run/workermand/workermand.pid" || c.ControlSocket != "/run/workermand/workermand.sock" {
		t.Errorf("embedded: %q %q", c.PidFile, c.ControlSocket)
	}

	// A pid_file of one's own brings its control socket along: two daemons
	// with their own pid files never share one.
	c, _ = config.Parse([]byte("pid_file = \"/srv/a/app.pid\"\n"+w0), "a.toml", testHooks)
	if err := c.Resolve(); err != nil || c.ControlSocket != "/srv/a/app.sock" {
		t.Errorf("control socket next to pid_file: %q, %v", c.ControlSocket, err)
	}

	// A socket path longer than sun_path is refused, with its line.
	long := strings.Repeat("s", 120) + ".sock"
	c, _ = config.Parse([]byte("control_socket = \""+long+"\"\n"+w0), "a.toml", testHooks)
	err = c.Resolve()
	if err == nil || !strings.HasPrefix(err.Error(), "a.toml:1: control_socket: ") || !strings.Contains(err.Error(), "at most 107") {
		t.Errorf("long socket path: %v", err)
	}
}

func TestSummary(t *testing.T) {
	defer config.SetIDs(0, 0)()
	c, err := config.Parse([]byte(`
[[worker]]
name = "echo"
listen = "text://0.0.0.0:2347"

[[worker]]
name = "frames"
listen = "frame://[::1]:9000"
count = 4
user = "nobody"
group = "nogroup"
handler = "greeter"

[[worker]]
name = "grouped"
listen = "tcp://127.0.0.1:0"
group = "nogroup"
`), "/etc/workermand/app.toml", testHooks)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	want := `config: /etc/workermand/app.toml
pid_file: /run/workermand/app.pid
control_socket: /run/workermand/app.sock
WORKER   LISTEN               PROTOCOL  COUNT  HANDLER  USER
echo     text://0.0.0.0:2347  text      1      echo     -
frames   frame://[::1]:9000   frame     4      greeter  nobody:nogroup
grouped  tcp://127.0.0.1:0    tcp       1      echo     :nogroup
`
	if got := c.Summary(); got != want {
		t.Errorf("Summary:\n%s\nwant\n%s", got, want)
	}
	if got := config.Default().Summary(); !strings.HasPrefix(got, "config: (embedded default)\nWORKER") {
		t.Errorf("Summary of the default:\n%s", got)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	migrate := filepath.Join(dir, "tcp_migrate_req")
	unpriv := filepath.Join(dir, "ip_unprivileged_port_start")
	status := filepath.Join(dir, "status")
	writeFile(t, unpriv, "1024\n")
	writeFile(t, status, "Name:\tx\nCapEff:\t0000000000000000\n")
	defer config.SetProcFiles(migrate, unpriv, status)()
	defer config.SetIDs(0, 0)()

	src := `[[worker]]
name = "a"
listen = "text://0.0.0.0:80"
reuse_port = true

[[worker]]
name = "b"
listen = "text://0.0.0.0:8080"
user = "nobody"
`
	c, err := config.Parse([]byte(src), "c.toml", testHooks)
	if err != nil {
		t.Fatal(err)
	}
	check := func() []string {
		var ws []string
		c.Check(func(s string) { ws = append(ws, s) })
		return ws
	}
	expect := func(what string, want ...string) {
		t.Helper()
		got := check()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	noMigrate := "c.toml:4: worker[0].reuse_port: this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14 added it): connections still queued on the socket of a process that a reload or a smaller count retires will be reset"
	migrateOff := "c.toml:4: worker[0].reuse_port: net.ipv4.tcp_migrate_req is 0: connections still queued on the socket of a process that a reload or a smaller count retires will be reset; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1)"
	expect("root, no tcp_migrate_req", noMigrate)
	writeFile(t, migrate, "0\n")
	expect("root, tcp_migrate_req=0", migrateOff)
	writeFile(t, migrate, "1\n")
	expect("root, tcp_migrate_req=1")

	defer config.SetIDs(1000, 1000)()
	expect("not root",
		"c.toml:3: worker[0].listen: port 80 is below net.ipv4.ip_unprivileged_port_start (1024): binding it needs root or CAP_NET_BIND_SERVICE",
		"c.toml:9: worker[1].user: the master will not run as root, so its processes cannot switch to nobody")
	writeFile(t, status, "CapEff:\t0000000000000400\n")
	expect("not root, CAP_NET_BIND_SERVICE",
		"c.toml:9: worker[1].user: the master will not run as root, so its processes cannot switch to nobody")
	writeFile(t, unpriv, "0\n")
	writeFile(t, status, "CapEff:\t0\n")
	expect("not root, ip_unprivileged_port_start=0",
		"c.toml:9: worker[1].user: the master will not run as root, so its processes cannot switch to nobody")

	// No reuse_port: the sysctl does not matter.
	os.Remove(migrate)
	c = mustParse(t, w0)
	var ws []string
	c.Check(func(s string) { ws = append(ws, s) })
	if len(ws) != 0 {
		t.Errorf("warnings without reuse_port: %v", ws)
	}
}

func TestDiff(t *testing.T) {
	defer config.SetIDs(0, 0)()
	parse := func(name, src string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(src), name, testHooks)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := parse("/etc/workermand/app.toml", w0)
	if err := running.Resolve(); err != nil {
		t.Fatal(err)
	}
	// Count, workers, timeouts: all fine live.
	next := parse("/etc/workermand/app.toml", "stop_timeout = \"9s\"\n"+w0+"count = 8\n[[worker]]\nname = \"new\"\nlisten = \"frame://0.0.0.0:9\"\n")
	if d := running.Diff(next); len(d) != 0 {
		t.Errorf("Diff = %q, want none", d)
	}
	// Writing the default explicitly is no change either.
	next = parse("/etc/workermand/app.toml", "pid_file = \"/run/workermand/app.pid\"\n"+w0)
	if d := running.Diff(next); len(d) != 0 {
		t.Errorf("explicit default: Diff = %q", d)
	}
	next = parse("/etc/workermand/app.toml", "pid_file = \"/tmp/app.pid\"\ncontrol_socket = \"/tmp/app.sock\"\n"+w0)
	want := []string{
		"/etc/workermand/app.toml:1: pid_file: cannot change on reload (running with /run/workermand/app.pid, the file now says /tmp/app.pid); restart to apply it",
		"/etc/workermand/app.toml:2: control_socket: cannot change on reload (running with /run/workermand/app.sock, the file now says /tmp/app.sock); restart to apply it",
	}
	if d := running.Diff(next); strings.Join(d, "\n") != strings.Join(want, "\n") {
		t.Errorf("Diff =\n%s\nwant\n%s", strings.Join(d, "\n"), strings.Join(want, "\n"))
	}
	if next.PidFile != "/tmp/app.pid" || next.ControlSocket != "/tmp/app.sock" {
		t.Error("Diff changed its argument")
	}
}
