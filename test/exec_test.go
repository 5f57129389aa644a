package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The stock exec handler running examples/exec/echo.php under php-cli on a
// text worker: the greeting and the echo come through PHP; the program
// killed, it is restarted and the client, still connected, gets answers
// again within 2 s.
func TestExecPHP(t *testing.T) {
	php := needTool(t, "php")
	script, err := filepath.Abs("../examples/exec/echo.php")
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("app", "text://"+loopback(t), "exec", 1,
		"[worker.options]", fmt.Sprintf("command = [%q, %q]", php, script)))
	d.start()
	st := d.waitReady("app", 1)
	child := st.procs("app")[0].PID

	c := dial(t, st.addr("app"))
	greeting := c.readLine(t)
	if !strings.HasPrefix(greeting, "hello "+strconv.Itoa(child)+"-") {
		t.Fatalf("greeting %q: want hello %d-<id>", greeting, child)
	}
	c.mustEcho(t, "héllo through PHP")

	prog := phpChild(t, child, script)
	if err := syscall.Kill(prog, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitGone(t, slow(5*time.Second), "the PHP program", prog)

	// The restarted program greets the connections it is told about, then
	// answers; messages sent while none ran are dropped, so ask again
	// until an answer comes.
	got := make(chan string, 64)
	go func() {
		for {
			line, err := c.r.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			got <- strings.TrimSuffix(line, "\n")
		}
	}()
	deadline := killed.Add(slow(2 * time.Second))
	for answered := false; !answered; {
		if time.Now().After(deadline) {
			t.Fatalf("no answer within %s of the kill", slow(2*time.Second))
		}
		if _, err := c.Write([]byte("again\n")); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(100 * time.Millisecond)
	wait:
		for {
			select {
			case line, ok := <-got:
				if !ok {
					t.Fatal("the connection closed")
				}
				if line == "again" {
					answered = true
					break wait
				}
			case <-timeout:
				break wait
			}
		}
	}
	t.Logf("answered again %s after the kill", time.Since(killed).Round(time.Millisecond))
	if next := phpChild(t, child, script); next == prog {
		t.Errorf("the same program pid %d", prog)
	}
}

// phpChild is the pid of the child process's program running script,
// waited for.
func phpChild(t *testing.T, parent int, script string) int {
	t.Helper()
	var pid int
	waitFor(t, slow(5*time.Second), "the PHP program", func() (bool, string) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil || !strings.Contains(cmdline(p), script) {
				continue
			}
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if err != nil {
				continue
			}
			// pid (comm) state ppid …
			f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
			if len(f) > 1 && f[1] == strconv.Itoa(parent) {
				pid = p
				return true, ""
			}
		}
		return false, "none found"
	})
	return pid
}
