package cliapp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A program's MetricsListen turns the endpoint on, a file's [metrics]
// table wins over it, and a bad address is a usage error.
func TestProgramMetricsListen(t *testing.T) {
	dir := t.TempDir()
	prog := &Program{Name: "app", Code: []map[string]any{{"name": "w", "count": int64(1)}},
		Defaults: Defaults{MetricsListen: "127.0.0.1:9300", PidFile: filepath.Join(dir, "app.pid")}}
	st := streams{prog: prog}
	cfg, err := st.loadConfigWith("", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Metrics.URL(); got != "http://127.0.0.1:9300/metrics" {
		t.Errorf("MetricsListen gave %q", got)
	}

	file := filepath.Join(dir, "app.toml")
	if err := os.WriteFile(file, []byte("[metrics]\nlisten = \"127.0.0.1:9400\"\npath = \"/m\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err = st.loadConfigWith(file, false, nil); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Metrics.URL(); got != "http://127.0.0.1:9400/m" {
		t.Errorf("with the file's [metrics]: %q", got)
	}

	prog.Defaults.MetricsListen = "localhost:9300"
	_, err = st.loadConfigWith("", true, nil)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), "MetricsListen: ") {
		t.Errorf("bad MetricsListen: %v", err)
	}
}
