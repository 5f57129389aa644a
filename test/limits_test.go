package test

import (
	"slices"
	"testing"
	"time"
)

// The per-worker limits of the config: max_connections (over it a
// connection is accepted, closed at once and counted), idle_timeout (silent
// connections are closed, talkative ones kept) and max_requests (the child
// is replaced, new before old, with no request lost).
func TestWorkerLimits(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(
		worker("capped", "text://127.0.0.1:0", "echo", 1, "max_connections = 2"),
		worker("idle", "text://127.0.0.1:0", "echo", 1, `idle_timeout = "300ms"`),
		worker("recycled", "text://127.0.0.1:0", "echo", 1, "max_requests = 5"),
	)
	d.start()
	st := d.waitReady("capped", 1)
	st = d.waitReady("idle", 1)
	st = d.waitReady("recycled", 1)

	t.Run("max_connections", func(t *testing.T) {
		addr := st.addr("capped")
		a, b := dial(t, addr), dial(t, addr)
		a.mustEcho(t, "a")
		b.mustEcho(t, "b")
		c := dial(t, addr)
		took, data, err := c.waitEOF(slow(5 * time.Second))
		if err != nil || data != "" {
			t.Fatalf("third connection: %q, %v; want an immediate close", data, err)
		}
		if took > slow(time.Second) {
			t.Errorf("third connection closed after %s; want at once", took)
		}
		a.mustEcho(t, "a still served")
		waitFor(t, slow(5*time.Second), "the rejection in status", func() (bool, string) {
			s := d.mustStatus()
			p := s.procs("capped")
			if len(p) != 1 {
				return false, "no capped process"
			}
			return p[0].Rejected >= 1, "rejected " + itoa(int(p[0].Rejected))
		})
	})

	t.Run("idle_timeout", func(t *testing.T) {
		addr := st.addr("idle")
		quiet, talker := dial(t, addr), dial(t, addr)
		quiet.mustEcho(t, "q")
		start := time.Now()
		// The talker speaks every 100 ms for a second: it must stay.
		for time.Since(start) < time.Second {
			talker.mustEcho(t, "still here")
			time.Sleep(100 * time.Millisecond)
		}
		took, data, err := quiet.waitEOF(slow(5 * time.Second))
		if err != nil || data != "" {
			t.Fatalf("quiet connection: %q, %v; want it closed", data, err)
		}
		if total := time.Since(start) - time.Second + took; total > slow(3*time.Second) {
			t.Errorf("quiet connection closed %s after its last message; idle_timeout is 300ms", total)
		}
		talker.mustEcho(t, "talker kept")
	})

	t.Run("max_requests", func(t *testing.T) {
		addr := st.addr("recycled")
		before := st.procs("recycled")[0].PID
		for i := range 8 {
			if err := echoOnce(addr, "r"+itoa(i)); err != nil {
				t.Fatalf("request %d failed while the child was being replaced: %v", i, err)
			}
		}
		waitFor(t, slow(10*time.Second), "a replacement for the recycled child", func() (bool, string) {
			ps := d.mustStatus().procs("recycled")
			pids := make([]int, len(ps))
			for i, p := range ps {
				pids[i] = p.PID
			}
			return len(ps) == 1 && ps[0].PID != before && ps[0].ID == 0, "pids " + intsString(pids)
		})
		if err := echoOnce(addr, "after"); err != nil {
			t.Fatalf("the replacement does not serve: %v", err)
		}
		if slices.Contains(d.mustStatus().pids(), before) {
			t.Error("the old child is still there")
		}
	})
}

func intsString(v []int) string {
	s := ""
	for i, n := range v {
		if i > 0 {
			s += ","
		}
		s += itoa(n)
	}
	return s
}
