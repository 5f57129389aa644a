package test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/logging/logtest"
)

// TestJSONLogLines: with log_format = "json", every line the master and
// its children write, from start through traffic and malformed input to
// stop, is one JSON object with each key once; a child's lines name their
// worker once.
func TestJSONLogLines(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.globals["log_format"] = `"json"`
	d.globals["log_level"] = `"debug"`
	d.writeConfig(
		worker("echo", "text://127.0.0.1:0", "echo", 2),
		respondWorker("web", 1),
	)
	d.start()
	d.waitReady("echo", 2)
	st := d.waitReady("web", 1)
	if err := echoOnce(st.addr("echo"), "hello"); err != nil {
		t.Fatal(err)
	}
	if got := rawExchange(t, st.addr("web"), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"); !strings.HasSuffix(got, helloBody) {
		t.Fatalf("GET: %q", got)
	}
	if got := rawExchange(t, st.addr("web"), "NOT HTTP\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Fatalf("malformed request: %q", got)
	}
	d.mustRun(0, "stop")

	data, err := os.ReadFile(d.logFile)
	if err != nil {
		t.Fatal(err)
	}
	started := map[string]int{}
	children := 0
	for line := range bytes.Lines(data) {
		dup, err := logtest.DuplicateKey(line)
		if err != nil {
			t.Errorf("log line: %v", err)
			continue
		}
		if dup != "" {
			t.Errorf("key %q twice in %s", dup, line)
			continue
		}
		var e struct {
			Msg, Role, Worker string
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Errorf("log line %q: %v", line, err)
			continue
		}
		if e.Role == "child" {
			children++
			if e.Worker == "" {
				t.Errorf("child line without its worker: %s", line)
			}
		}
		if e.Msg == "worker started" {
			started[e.Worker]++
		}
	}
	if children == 0 || started["echo"] != 2 || started["web"] != 1 {
		t.Errorf("%d child lines, \"worker started\" per worker %v; want some, and echo 2, web 1", children, started)
	}
}
