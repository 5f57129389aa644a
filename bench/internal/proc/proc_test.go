package proc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestSelfAndChild(t *testing.T) {
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()

	tree, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tree[0] != os.Getpid() || !slices.Contains(tree, child.Process.Pid) {
		t.Fatalf("tree %v lacks self or child %d", tree, child.Process.Pid)
	}
	x := 0
	for i := range 50_000_000 { // burn a little CPU so the tick count moves
		x ^= i
	}
	_ = x
	if ticks, err := CPUTicks(os.Getpid()); err != nil || ticks <= 0 {
		t.Fatalf("CPUTicks = %d, %v", ticks, err)
	}
	if rss, err := RSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	if ClockTicks() <= 0 {
		t.Fatal("ClockTicks <= 0")
	}
	if _, err := CPUTicks(1 << 30); err == nil {
		t.Fatal("no error for a missing pid")
	}
}

func TestStatusFields(t *testing.T) {
	rss, err := StatusKiB(os.Getpid(), "VmRSS")
	if err != nil || rss < 1<<10 {
		t.Fatalf("VmRSS = %d KiB, %v", rss, err)
	}
	if anon, err := StatusKiB(os.Getpid(), "RssAnon"); err != nil || anon <= 0 || anon > rss {
		t.Fatalf("RssAnon = %d KiB (VmRSS %d), %v", anon, rss, err)
	}
	if _, err := StatusKiB(os.Getpid(), "NoSuchField"); err == nil {
		t.Fatal("no error for a missing field")
	}
}
