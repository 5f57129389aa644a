package runner

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	if m := Median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("odd count: %v", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even count: %v", m)
	}
	if m := Median(nil); !math.IsNaN(m) {
		t.Errorf("empty: %v, want NaN so the table shows n/a", m)
	}
	if s := Num("%.1f", math.NaN()); s != "n/a" {
		t.Errorf("Num(NaN) = %q", s)
	}
}

func TestCoreTicksAdvance(t *testing.T) {
	_, t0, err := CoreTicks(0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	_, t1, err := CoreTicks(0)
	if err != nil || t1 <= t0 {
		t.Fatalf("total ticks %d → %d, %v", t0, t1, err)
	}
	if _, _, err := CoreTicks(1 << 20); err == nil {
		t.Fatal("a CPU that does not exist was found")
	}
}

// A server that never listens is reported with its output, and stopped.
func TestStartServerReportsEarlyExit(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, err = StartServer("sh", 0, []string{"sh", "-c", "echo nope; exit 3"}, nil, addr)
	if err == nil {
		t.Fatal("no error for a server that exited")
	}
	if want := "nope"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not show the output %q", err, want)
	}
}
