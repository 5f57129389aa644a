package test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seqReply parses a reply of handoverd's seq protocol: "<n> <pid> <line>".
func seqReply(line string) (n, pid int, text string, err error) {
	f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 3)
	if len(f) != 3 {
		return 0, 0, "", fmt.Errorf("reply %q", line)
	}
	n, err1 := strconv.Atoi(f[0])
	pid, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return 0, 0, "", fmt.Errorf("reply %q", line)
	}
	return n, pid, f[2], nil
}

// Connections of a protocol that opts in survive a reload: the retiring
// children hand them over with their codec state, the new children answer
// them, and the clients see no close. Plain reload and reload -g alike.
func TestReloadHandsOverConnections(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"reload"}, {"reload", "-g"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, handoverBin)
			d.globals["graceful_timeout"] = `"10s"`
			d.writeConfig(worker("seq", "seq://127.0.0.1:0", "echo", 2))
			d.start()
			st := d.waitReady("seq", 2)
			const n = 6
			var clients []*client
			for i := range n {
				c := dial(t, st.addr("seq"))
				for j := 1; j <= 2; j++ {
					if _, err := fmt.Fprintf(c, "c%d m%d\n", i, j); err != nil {
						t.Fatal(err)
					}
					line, err := c.r.ReadString('\n')
					if err != nil {
						t.Fatal(err)
					}
					got, pid, _, err := seqReply(line)
					if err != nil || got != j || !slices.Contains(st.pids(), pid) {
						t.Fatalf("before reload: %q (%v)", line, err)
					}
				}
				clients = append(clients, c)
			}
			begin := time.Now()
			d.mustRun(0, args...)
			next := d.waitReplaced("seq", 2, st.pids(), st.Master.PID)
			t.Logf("%v: old children gone %s after the reload began", args, time.Since(begin).Round(time.Millisecond))
			for i, c := range clients {
				if _, err := fmt.Fprintf(c, "c%d after\n", i); err != nil {
					t.Fatal(err)
				}
				line, err := c.r.ReadString('\n')
				if err != nil {
					t.Fatalf("client %d after the reload: %v; its connection should have been handed over", i, err)
				}
				got, pid, text, err := seqReply(line)
				if err != nil || got != 3 || !slices.Contains(next.pids(), pid) || text != fmt.Sprintf("c%d after", i) {
					t.Errorf("client %d after the reload: %q; want reply 3 from one of %v", i, line, next.pids())
				}
			}
			s := d.mustStatus()
			total := 0
			for _, p := range s.procs("seq") {
				total += p.Connections
			}
			if total != n {
				t.Errorf("new children hold %d connections, want %d: %+v", total, n, s.Processes)
			}
		})
	}
}
