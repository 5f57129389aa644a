package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/config"
)

// Workers a program defines in code (workerman.RunAll) come after the
// file's, are checked as the file's are, and are named RunAll[i] in
// "(program)"; with them a file of global keys alone is a config.
func TestCodeWorkers(t *testing.T) {
	hooks := testHooks
	code := func(ms ...map[string]any) config.Hooks {
		h := hooks
		h.Code = ms
		return h
	}
	c, err := config.Parse([]byte("pid_file = \"/tmp/x.pid\"\n"), "app.toml", code(
		map[string]any{"name": "chat", "listen": "websocket://127.0.0.1:8081", "count": int64(1)},
		map[string]any{"name": "api", "listen": "https://127.0.0.1:8443", "count": int64(4), "reuse_port": true},
	))
	if err != nil {
		t.Fatalf("a file without workers and two code workers: %v", err)
	}
	if len(c.Workers) != 2 || !c.Workers[0].Code || c.Workers[0].Handler != "" || c.Workers[1].Count != 4 {
		t.Fatalf("code workers: %+v", c.Workers)
	}
	// https:// is TLS; the program holds the *tls.Config, so no [worker.tls].
	if w := c.Workers[1]; w.Transport != "ssl" || w.Addr.Scheme != "http" || w.TLS != nil || !w.ReusePort {
		t.Errorf("https code worker: transport %q scheme %q TLS %v reuse_port %v", w.Transport, w.Addr.Scheme, w.TLS, w.ReusePort)
	}
	if !c.Sets("pid_file") || c.Sets("log_file") {
		t.Errorf("Sets: pid_file %v, log_file %v", c.Sets("pid_file"), c.Sets("log_file"))
	}

	// Without code workers the same file has nothing to run.
	if _, err := config.Parse([]byte("pid_file = \"/tmp/x.pid\"\n"), "app.toml", hooks); err == nil {
		t.Error("a file without workers, and no code workers, parsed")
	}

	file := "[[worker]]\nname = \"chat\"\nlisten = \"text://127.0.0.1:9000\"\n"
	_, err = config.Parse([]byte(file), "app.toml", code(
		map[string]any{"name": "chat", "listen": "text://127.0.0.1:9001", "count": int64(1)},
		map[string]any{"name": "b", "listen": "text://127.0.0.1:9000", "count": int64(0)},
		map[string]any{"name": "c", "listen": "nope://127.0.0.1:1"},
	))
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *config.Errors, got %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		`(program): RunAll[0].name: duplicate worker name "chat" (also worker[0], line 1)`,
		`(program): RunAll[1].count: must be at least 1`,
		`(program): RunAll[1].listen: 127.0.0.1:9000 is already taken by worker[0] "chat"`,
		`(program): RunAll[2].listen:`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, p := range errs.Problems {
		if p.File == "app.toml" {
			t.Errorf("a problem of the code workers blamed on the file: %v", p)
		}
	}
}
