package workerman_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/workermand/workermand/internal/logging"
	"github.com/workermand/workermand/internal/logging/logtest"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// TestWorkerStartedAfterOnWorkerStart: "worker started" is logged once
// OnWorkerStart has returned, and each line names its worker once, also when
// the process runs several workers.
func TestWorkerStartedAfterOnWorkerStart(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	seenInStart := map[string]int{} // loop-only
	var workers []*workerman.Worker
	for _, name := range []string{"first", "second"} {
		w := textWorker(name)
		w.OnWorkerStart = func(w *workerman.Worker) {
			seenInStart[w.Name] = logs.FilterMessage("worker started").Len()
		}
		workers = append(workers, w)
	}
	p := workermantest.StartWith(t, workerman.ProcessOptions{Logger: zap.New(core)}, workers...)
	got := workermantest.OnLoopValue(t, p.Loop(), func() map[string]int { return seenInStart })
	if got["first"] != 0 || got["second"] != 0 {
		t.Errorf("\"worker started\" lines already logged while OnWorkerStart ran: %v", got)
	}
	started := logs.FilterMessage("worker started").All()
	if len(started) != 2 {
		t.Fatalf("%d \"worker started\" lines, want 2", len(started))
	}
	for i, e := range started {
		var names []string
		for _, f := range e.Context {
			if f.Key == "worker" {
				names = append(names, f.String)
			}
		}
		if len(names) != 1 || names[0] != workers[i].Name {
			t.Errorf("line %d names workers %v, want [%s] once", i, names, workers[i].Name)
		}
	}
}

// TestLoggerNamingTheWorker: with a logger that names the worker on every
// line already (a daemon child's), the process's lines are valid JSON
// objects with the worker key once.
func TestLoggerNamingTheWorker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "child.log")
	log, out, err := logging.New(logging.Options{Format: "json", Path: path,
		Fields: []zap.Field{zap.Int("pid", os.Getpid()), zap.String("worker", "named")}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := textWorker("named")
	p := workermantest.StartWith(t, workerman.ProcessOptions{Logger: log}, w)
	workermantest.Stop(t, p)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	for line := range bytes.Lines(data) {
		dup, err := logtest.DuplicateKey(line)
		if err != nil {
			t.Fatal(err)
		}
		if dup != "" {
			t.Errorf("key %q twice in %s", dup, line)
		}
		if bytes.Contains(line, []byte(`"msg":"worker started"`)) {
			started++
		}
	}
	if started != 1 {
		t.Errorf("%d \"worker started\" lines in:\n%s", started, data)
	}
}
