package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/config"
)

const monW = "[[worker]]\nname = \"a\"\nlisten = \"text://127.0.0.1:0\"\n"

func TestMonitorDefaults(t *testing.T) {
	c := mustParse(t, monW)
	if c.Monitor.Enabled {
		t.Errorf("no [monitor] table, but the monitor is enabled: %+v", c.Monitor)
	}
	c = mustParse(t, "[monitor]\n"+monW)
	m := c.Monitor
	if !m.Enabled || m.Paths != nil || m.Extensions != nil || m.InDaemon || m.Debounce.Duration != config.DefaultMonitorDebounce ||
		!slices.Equal(m.Exclude, config.DefaultMonitorExclude) {
		t.Errorf("[monitor] alone: %+v", m)
	}
	if got, want := c.Monitor.Summary(), "the config file and the program, in the foreground, reloading 300ms after a change"; got != want {
		t.Errorf("Summary %q, want %q", got, want)
	}
	if !strings.Contains(c.Summary(), "\nmonitor: the config file and the program, ") {
		t.Errorf("check's summary lacks the monitor:\n%s", c.Summary())
	}
	c = mustParse(t, "[monitor]\nenabled = false\n"+monW)
	if c.Monitor.Enabled || c.Monitor.Summary() != "" || strings.Contains(c.Summary(), "monitor") {
		t.Error("enabled = false left it enabled")
	}
}

// Relative paths are relative to the config file's directory; extensions
// lose their dot; exclude replaces the default.
func TestMonitorKeys(t *testing.T) {
	dir := t.TempDir()
	src := `
[monitor]
paths = ["handlers", "/srv/app/templates/", "../shared/x.toml"]
extensions = ["go", ".tmpl"]
exclude = ["*.tmp", "cache/*"]
in_daemon = true
debounce = "1s"
` + monW
	file := filepath.Join(dir, "conf", "app.toml")
	c, err := config.Parse([]byte(src), file, testHooks)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Monitor
	want := []string{filepath.Join(dir, "conf/handlers"), "/srv/app/templates", filepath.Join(dir, "shared/x.toml")}
	if !slices.Equal(m.Paths, want) {
		t.Errorf("paths %q, want %q", m.Paths, want)
	}
	if got, want := m.Summary(), filepath.Join(dir, "conf/handlers")+", /srv/app/templates, "+filepath.Join(dir, "shared/x.toml")+
		" (*.go, *.tmpl), in the foreground and daemonized, reloading 1s after a change"; got != want {
		t.Errorf("Summary %q, want %q", got, want)
	}
	if !slices.Equal(m.Extensions, []string{"go", "tmpl"}) || !slices.Equal(m.Exclude, []string{"*.tmp", "cache/*"}) ||
		!m.InDaemon || m.Debounce.Duration != time.Second {
		t.Errorf("monitor %+v", m)
	}
	c = mustParse(t, "[monitor]\nexclude = []\n"+monW)
	if c.Monitor.Exclude == nil || len(c.Monitor.Exclude) != 0 {
		t.Errorf("exclude = [] gave %q, want none", c.Monitor.Exclude)
	}
}

// Every problem of the table at its file:line:key.
func TestMonitorProblems(t *testing.T) {
	src := monW + `
[monitor]
paths = ["ok", "", 3]
extensions = ["", "a/b"]
exclude = ["[", "ok"]
in_daemon = "yes"
debounce = "1ms"
recursive = true
`
	got := problems(t, src)
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	want := []string{
		`test.toml:6: monitor.paths[1]: must not be empty`,
		`test.toml:6: monitor.paths[2]: must be a string, not an integer`,
		`test.toml:7: monitor.extensions[0]: must not be empty (leave extensions out to watch files of any extension)`,
		`test.toml:7: monitor.extensions[1]: "a/b" is not a file extension (as in "go" or ".tmpl")`,
		`test.toml:8: monitor.exclude[0]: "[" is not a glob (as in "*.tmp", "vendor" or "cache/*")`,
		`test.toml:9: monitor.in_daemon: must be a boolean (true or false), not a string`,
		`test.toml:10: monitor.debounce: must be at least 10ms, so that a burst of writes gives one reload`,
		`test.toml:11: monitor.recursive: unknown key`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	for src, want := range map[string]string{
		"monitor = 1\n" + monW:                       `test.toml:1: monitor: must be a table ([monitor]), not an integer`,
		"[monitor]\npaths = \"a\"\n" + monW:          `test.toml:2: monitor.paths: must be an array of strings, not a string`,
		"[monitor]\npaths = []\n" + monW:             `test.toml:2: monitor.paths: is empty: nothing would be watched`,
		"[monitor]\ndebounce = 300\n" + monW:         `test.toml:2: monitor.debounce: must be a duration string with a unit`,
		"[monitor]\nextenstions = [\"go\"]\n" + monW: `test.toml:2: monitor.extenstions: unknown key (did you mean "extensions"?)`,
	} {
		ps := problems(t, src)
		if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), want) {
			t.Errorf("%q: problems %v, want %s", src, ps, want)
		}
	}
}

// check warns of a watched path that does not exist.
func TestMonitorCheck(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "there.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := "[monitor]\npaths = [\"there.go\", \"missing\"]\n" + monW
	c, err := config.Parse([]byte(src), filepath.Join(dir, "app.toml"), testHooks)
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	c.Check(func(s string) { ws = append(ws, s) })
	want := filepath.Join(dir, "app.toml") + ":2: monitor.paths[1]: " + filepath.Join(dir, "missing") + ": no such file or directory; the monitor will watch for it to appear"
	if !slices.Contains(ws, want) {
		t.Errorf("warnings %q, want %q", ws, want)
	}
	for _, w := range ws {
		if strings.Contains(w, "paths[0]") {
			t.Errorf("warning about a path that exists: %s", w)
		}
	}
}

// The example documents every key of [monitor].
func TestExampleDocumentsMonitor(t *testing.T) {
	data, err := os.ReadFile("../../configs/workermand.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^#?\[monitor\]`).Match(data) {
		t.Error("the example has no [monitor] table")
	}
	for _, k := range config.MonitorKeys() {
		if !regexp.MustCompile(`(?m)^#?` + k + ` =`).Match(data) {
			t.Errorf("the example does not document monitor.%s", k)
		}
	}
}
