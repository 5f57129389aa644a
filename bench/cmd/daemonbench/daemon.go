package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// daemon is one workermand master started by this program, with its own
// temp dir holding its config, pid file, control socket and log.
type daemon struct {
	bin, dir, cfg string
	addr          string // host:port the worker listens on
	running       bool
	pids          []int // master and children as last seen, for the last-resort kill
}

// status is the part of `status --json` (schema 1) that we read.
type status struct {
	Schema int `json:"schema"`
	Master struct {
		Pid int `json:"pid"`
	} `json:"master"`
	Processes []struct {
		Pid         int    `json:"pid"`
		Worker      string `json:"worker"`
		ID          int    `json:"id"`
		Generation  int    `json:"generation"`
		Connections int    `json:"connections"`
		Status      string `json:"status"`
	} `json:"processes"`
}

func (s status) childPids() []int {
	var pids []int
	for _, p := range s.Processes {
		pids = append(pids, p.Pid)
	}
	return pids
}

// newDaemon writes a config with one text echo worker of count processes
// on a free loopback port. Nothing is started yet.
func newDaemon(bin string, count int, reusePort bool) (*daemon, error) {
	dir, err := os.MkdirTemp("", "daemonbench-")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &daemon{bin: bin, dir: dir, cfg: dir + "/workermand.toml", addr: addr}
	cfg := fmt.Sprintf(`pid_file = %q
control_socket = %q
log_file = %q
stdout_file = %q
stop_timeout = "2s"

[[worker]]
name = "echo"
listen = "text://%s"
count = %d
reuse_port = %t
`, dir+"/workermand.pid", dir+"/workermand.sock", dir+"/workermand.log", dir+"/stdout.log", addr, count, reusePort)
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

// cli runs `workermand <args> -c cfg` and returns its combined output.
func (d *daemon) cli(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, append(args, "-c", d.cfg)...)
	// start -d hands off to a daemon; should it keep our pipe open, do not
	// wait for it past the launcher's own exit.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("workermand %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// start runs `start -d` and then dials the port until it answers. It
// returns the time until the command returned and until the port answered
// (both from the moment the command was started).
func (d *daemon) start() (cliDone, ready time.Duration, err error) {
	t0 := time.Now()
	if _, err := d.cli(30*time.Second, "start", "-d"); err != nil {
		d.running = true // it may have half-started: stop() sorts it out
		return 0, 0, err
	}
	cliDone = time.Since(t0)
	d.running = true
	deadline := t0.Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s not answering 10s after start: %w", d.addr, err)
		}
		time.Sleep(time.Millisecond)
	}
	ready = time.Since(t0)
	_, _, err = d.status() // learn the pids, for stop()'s last resort
	return cliDone, ready, err
}

// status runs `status --json` and returns the decoded answer and how long
// the command took.
func (d *daemon) status() (status, time.Duration, error) {
	var s status
	t0 := time.Now()
	out, err := d.cli(10*time.Second, "status", "--json")
	took := time.Since(t0)
	if err != nil {
		return s, took, err
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return s, took, fmt.Errorf("decode status --json: %w", err)
	}
	if s.Schema != 1 {
		return s, took, fmt.Errorf("status --json: schema %d, want 1", s.Schema)
	}
	d.pids = append([]int{s.Master.Pid}, s.childPids()...)
	return s, took, nil
}

// reload runs `reload` (`reload -g` if graceful) and returns how long it took.
func (d *daemon) reload(graceful bool) (time.Duration, error) {
	args := []string{"reload"}
	if graceful {
		args = append(args, "-g")
	}
	t0 := time.Now()
	_, err := d.cli(30*time.Second, args...)
	return time.Since(t0), err
}

// stop runs `stop`; if that fails it kills the pids status last listed
// (all started by us). Then it removes the temp dir.
func (d *daemon) stop() {
	if d.running {
		if _, err := d.cli(15*time.Second, "stop"); err != nil {
			logf("stop failed, killing pids %v: %v", d.pids, err)
			for _, pid := range d.pids {
				if pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		d.running = false
	}
	os.RemoveAll(d.dir)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
