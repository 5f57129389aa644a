package test

import (
	"strings"
	"testing"
	"time"
)

// check --system under a low open-files limit (prlimit, as a shell's
// ulimit -n would set it) warns that max_connections cannot be reached and
// says how to raise the limit; with the limit high enough it does not. The
// listen backlog against net.core.somaxconn is always reported.
func TestCheckSystem(t *testing.T) {
	prlimit := needTool(t, "prlimit")
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("many", "text://127.0.0.1:0", "echo", 2, "max_connections = 1000"))

	low := runBin(t, prlimit, d.dir, d.env, 30*time.Second, "--nofile=256:256", stockBin, "check", "--system", "-c", d.cfg)
	if low.code != 0 {
		t.Fatalf("check --system: %s", low)
	}
	for _, want := range []string{
		"system:",
		"warning  open files: worker[0]: max_connections = 1000 needs about 1064 descriptors per process, the hard limit is 256",
		"LimitNOFILE=",
		"net.core.somaxconn",
	} {
		if !strings.Contains(low.out, want) {
			t.Errorf("check --system under nofile 256: missing %q in\n%s", want, low.out)
		}
	}

	high := runBin(t, prlimit, d.dir, d.env, 30*time.Second, "--nofile=4096:4096", stockBin, "check", "--system", "-c", d.cfg)
	if high.code != 0 || strings.Contains(high.out, "max_connections = 1000 needs") || !strings.Contains(high.out, "ok       open files") {
		t.Errorf("check --system under nofile 4096: want open files ok\n%s", high)
	}
	// Without --system, none of it.
	if r := d.mustRun(0, "check"); strings.Contains(r.out, "system:") {
		t.Errorf("check without --system printed the system findings:\n%s", r.out)
	}
}
