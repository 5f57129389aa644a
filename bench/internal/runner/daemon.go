package runner

import (
	"bytes"
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

// Daemon is a workermand master of our own, for the drivers that measure
// the daemon (daemonbench, idlebench): a temp dir holding its config, pid
// file and control socket, and one text echo worker on a free loopback
// port.
type Daemon struct {
	Bin, Dir, Config string
	Addr             string // host:port the worker listens on
	Pids             []int  // master and children as Status last saw them
	running          bool
}

// DaemonConfig is what differs between the drivers' configs.
type DaemonConfig struct {
	Count     int // worker processes
	ReusePort bool
	// LogFiles puts the log and the children's output in files in the dir;
	// without, they go to the master's own output.
	LogFiles    bool
	StopTimeout string // e.g. "2s"; the default when empty
	// Worker, when set, replaces the text echo worker: the TOML of one
	// [[worker]] table (Count and ReusePort do not apply), with {addr}
	// standing for the free loopback host:port found for it.
	Worker string
	UDP    bool // the worker listens on UDP: find a free UDP port
}

// Status is the part of `status --json` (schema 1) that the drivers read.
type Status struct {
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

// ChildPids are the pids of the listed processes.
func (s Status) ChildPids() []int {
	var pids []int
	for _, p := range s.Processes {
		pids = append(pids, p.Pid)
	}
	return pids
}

// NewDaemon writes the config into a new temp dir named after prefix.
// Nothing is started yet: call Start, or run the binary on Config
// yourself; Stop removes the dir.
func NewDaemon(bin, prefix string, c DaemonConfig) (*Daemon, error) {
	dir, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return nil, err
	}
	free := FreeAddr
	if c.UDP {
		free = FreeUDPAddr
	}
	addr, err := free()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &Daemon{Bin: bin, Dir: dir, Config: dir + "/workermand.toml", Addr: addr}
	var sb strings.Builder
	fmt.Fprintf(&sb, "pid_file = %q\ncontrol_socket = %q\n", dir+"/workermand.pid", dir+"/workermand.sock")
	if c.LogFiles {
		fmt.Fprintf(&sb, "log_file = %q\nstdout_file = %q\n", dir+"/workermand.log", dir+"/stdout.log")
	}
	if c.StopTimeout != "" {
		fmt.Fprintf(&sb, "stop_timeout = %q\n", c.StopTimeout)
	}
	if c.Worker != "" {
		sb.WriteString("\n" + strings.ReplaceAll(c.Worker, "{addr}", addr))
	} else {
		fmt.Fprintf(&sb, "\n[[worker]]\nname = \"echo\"\nlisten = \"text://%s\"\nhandler = \"echo\"\ncount = %d\nreuse_port = %t\n",
			addr, c.Count, c.ReusePort)
	}
	if err := os.WriteFile(d.Config, []byte(sb.String()), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

// CLI runs `workermand <args> -c config` and returns its standard output.
func (d *Daemon) CLI(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.Bin, append(args, "-c", d.Config)...)
	// start -d hands off to a daemon; should it keep our pipe open, do not
	// wait for it past the launcher's own exit.
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("workermand %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return stdout.String(), nil
}

// Start runs `start -d` and then dials the port until it answers. It
// returns the time until the command returned and until the port answered
// (both from the moment the command was started).
func (d *Daemon) Start() (cliDone, ready time.Duration, err error) {
	t0 := time.Now()
	d.running = true // even a failed start may have half-started: Stop sorts it out
	if _, err := d.CLI(30*time.Second, "start", "-d"); err != nil {
		return 0, 0, err
	}
	cliDone = time.Since(t0)
	deadline := t0.Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s not answering 10s after start: %w", d.Addr, err)
		}
		time.Sleep(time.Millisecond)
	}
	ready = time.Since(t0)
	_, _, err = d.Status() // learn the pids, for Stop's last resort
	return cliDone, ready, err
}

// Status runs `status --json` and returns the decoded answer and how long
// the command took.
func (d *Daemon) Status() (Status, time.Duration, error) {
	var s Status
	t0 := time.Now()
	out, err := d.CLI(10*time.Second, "status", "--json")
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
	d.Pids = append([]int{s.Master.Pid}, s.ChildPids()...)
	return s, took, nil
}

// Stop stops a daemon Start started with `stop`, and if that fails kills
// the pids Status last listed (all started by us); then it removes the
// temp dir.
func (d *Daemon) Stop() {
	if d.running {
		if _, err := d.CLI(15*time.Second, "stop"); err != nil {
			Logf("stop failed, killing pids %v: %v", d.Pids, err)
			for _, pid := range d.Pids {
				if pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		d.running = false
	}
	os.RemoveAll(d.Dir)
}
