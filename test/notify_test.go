package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Under systemd (NOTIFY_SOCKET set) the master speaks the notify protocol
// that Type=notify and ExecReload rely on: READY=1 once every child is
// ready, RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload,
// STOPPING=1 on stop. `start -d` stays in the foreground there, and children
// never see NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("echo", "text://127.0.0.1:0", "echo", 2))

	sockPath := filepath.Join(d.dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	next := func(what string) string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = notify.SetReadDeadline(time.Now().Add(slow(20 * time.Second)))
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s on NOTIFY_SOCKET: %v\nlog:\n%s", what, err, d.logTail())
		}
		return string(buf[:n])
	}

	cmd := exec.Command(d.bin, "start", "-d", "-c", d.cfg)
	cmd.Dir = d.dir
	cmd.Env = append(cleanEnv(), "NOTIFY_SOCKET="+sockPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	})
	d.setMaster(cmd.Process.Pid)

	if got := next("READY=1"); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	st := d.mustStatus()
	if len(st.Processes) != 2 {
		t.Fatalf("READY=1 came with %d processes up, want 2", len(st.Processes))
	}
	select {
	case err := <-exited:
		t.Fatalf("start -d under systemd exited (%v); it must stay in the foreground", err)
	default:
	}
	if st.Master.PID != cmd.Process.Pid {
		t.Fatalf("status says master pid %d, but the started process is %d (it forked)", st.Master.PID, cmd.Process.Pid)
	}
	for _, p := range st.Processes {
		env, err := os.ReadFile("/proc/" + itoa(p.PID) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(env), "NOTIFY_SOCKET=") {
			t.Errorf("child %d inherited NOTIFY_SOCKET", p.PID)
		}
	}

	d.mustRun(0, "reload")
	got := next("RELOADING=1")
	if !strings.Contains(got, "RELOADING=1") || !strings.Contains(got, "MONOTONIC_USEC=") {
		t.Fatalf("reload sent %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := next("READY=1 after the reload"); got != "READY=1" {
		t.Fatalf("after the reload: %q, want READY=1", got)
	}

	d.mustRun(0, "stop")
	if got := next("STOPPING=1"); got != "STOPPING=1" {
		t.Fatalf("stop sent %q, want STOPPING=1", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("master exit: %v", err)
		}
	case <-time.After(slow(10 * time.Second)):
		t.Fatal("master still running after stop")
	}
}
