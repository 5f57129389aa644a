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

// The exec handler's channel option: examples/exec/chat.php on a text
// worker of two processes sharing the stock channel server of the same
// daemon. A client logged in as alice in one process gets what a client of
// the other process sends to alice (send_to_uid), and both get a broadcast.
func TestExecUIDAcrossProcesses(t *testing.T) {
	php := needTool(t, "php")
	script, err := filepath.Abs("../examples/exec/chat.php")
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, stockBin)
	chanAddr, chatAddr := loopback(t), loopback(t)
	d.writeConfig(
		worker("chan", "frame://"+chanAddr, "channel", 1),
		worker("chat", "text://"+chatAddr, "exec", 2, "reuse_port = true",
			"[worker.options]", fmt.Sprintf("command = [%q, %q]", php, script),
			fmt.Sprintf("channel = %q", "frame://"+chanAddr)))
	d.start()
	d.waitReady("chan", 1)
	d.waitReady("chat", 2)

	// One client in each process: the greeting names the process.
	byPid := map[string]*client{}
	for i := 0; i < 60 && len(byPid) < 2; i++ {
		c := dial(t, chatAddr)
		pid, _, _ := strings.Cut(strings.TrimPrefix(c.readLine(t), "hello "), "-")
		if byPid[pid] == nil {
			byPid[pid] = c
		} else {
			c.Close()
		}
	}
	if len(byPid) < 2 {
		t.Fatalf("60 clients all reached one process")
	}
	var alice, bob *client
	for _, c := range byPid {
		if alice == nil {
			alice = c
		} else {
			bob = c
		}
	}
	if _, err := alice.Write([]byte("login alice\n")); err != nil {
		t.Fatal(err)
	}
	if got := alice.readLine(t); got != "you are alice" {
		t.Fatalf("login: %q", got)
	}
	// The other process learns of alice through the channel server; a
	// message sent before its subscription is up may be missed, so send
	// until one arrives.
	deadline := time.Now().Add(slow(5 * time.Second))
	for i := 0; ; i++ {
		msg := fmt.Sprintf("hi alice %d", i)
		if _, err := bob.Write([]byte("to alice " + msg + "\n")); err != nil {
			t.Fatal(err)
		}
		_ = alice.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		line, err := alice.r.ReadString('\n')
		if err == nil {
			if !strings.HasPrefix(line, "hi alice ") {
				t.Fatalf("alice got %q", line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice got nothing from the other process within %s", slow(5*time.Second))
		}
	}
	// Drain what the retries may have queued, then broadcast.
	time.Sleep(300 * time.Millisecond)
	_ = alice.SetReadDeadline(time.Now().Add(slow(5 * time.Second)))
	for {
		_ = alice.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := alice.r.ReadString('\n'); err != nil {
			break
		}
	}
	if _, err := bob.Write([]byte("all to everyone\n")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client{"alice": alice, "bob": bob} {
		_ = c.SetReadDeadline(time.Now().Add(slow(5 * time.Second)))
		if line, err := c.r.ReadString('\n'); err != nil || line != "to everyone\n" {
			t.Errorf("%s got %q, %v from the broadcast", name, line, err)
		}
	}
}
