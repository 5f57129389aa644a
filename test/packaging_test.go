package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// What make install puts beside the binary: man pages generated from the
// command tree (every command has one, with its flags), shell completions
// that know the commands, and a version line with the Go toolchain.
func TestManPagesCompletionsVersion(t *testing.T) {
	dir := tempDir(t)
	cmd := exec.Command(goTool(), "run", "./internal/tools/mangen", "-o", dir)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mangen: %v\n%s", err, out)
	}
	for page, want := range map[string]string{
		"workermand.1":        "workermand-reload(1)",
		"workermand-start.1":  "--daemon",
		"workermand-check.1":  "--system",
		"workermand-reload.1": "--graceful",
		"workermand-status.1": "--json",
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("man page %s: %v", page, err)
			continue
		}
		if !strings.Contains(string(b), `.TH "WORKERMAND"`) || !strings.Contains(string(b), want) {
			t.Errorf("man page %s lacks the title or %q:\n%s", page, want, b)
		}
	}

	r := runBin(t, stockBin, dir, nil, 30*time.Second, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.out, "__start_workermand") {
		t.Errorf("completion bash: %s", r)
	}
	r = runBin(t, stockBin, dir, nil, 30*time.Second, "version")
	if r.code != 0 || !strings.HasPrefix(r.out, "workermand ") || !strings.Contains(r.out, runtime.Version()) {
		t.Errorf("version: %s", r)
	}
}
