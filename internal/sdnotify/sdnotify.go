// Package sdnotify speaks systemd's notify protocol (sd_notify(3)) for a
// Type=notify service: newline-separated VAR=VALUE assignments sent as one
// datagram to the AF_UNIX socket named by $NOTIFY_SOCKET. It is written on
// golang.org/x/sys/unix alone.
//
// The workermand master sends READY=1 once every child is ready,
// RELOADING=1 with MONOTONIC_USEC when a reload starts and READY=1 again when
// the new generation serves, STOPPING=1 on shutdown, and STATUS= lines with
// counts. Only the master notifies (the unit keeps NotifyAccess=main): it
// calls Unsetenv at start, so the children it spawns never see the socket,
// while the master itself keeps using the address it captured.
//
// Every function is a no-op reporting "not sent" when the process does not
// run under systemd (no NOTIFY_SOCKET), so callers need no condition.
package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// EnvSocket is the environment variable systemd sets to the notify socket's
// address: an absolute path, or "@name" for an abstract socket.
const EnvSocket = "NOTIFY_SOCKET"

// Well-known states, for Notify.
const (
	StateReady     = "READY=1"
	StateReloading = "RELOADING=1"
	StateStopping  = "STOPPING=1"
	StateWatchdog  = "WATCHDOG=1"
)

var (
	mu       sync.Mutex
	captured bool   // Unsetenv was called; addr replaces the environment
	addr     string // the address captured by Unsetenv
)

// socketAddr returns the notify socket's address, or "" when there is none.
func socketAddr() string {
	mu.Lock()
	defer mu.Unlock()
	if captured {
		return addr
	}
	return os.Getenv(EnvSocket)
}

// Enabled reports whether this process can notify systemd: NOTIFY_SOCKET is
// set, or was set when Unsetenv removed it.
func Enabled() bool { return socketAddr() != "" }

// Unsetenv removes NOTIFY_SOCKET from the environment, so that processes
// started afterwards (the master's children) do not inherit it and cannot
// notify in the master's name. This process keeps notifying: the address is
// captured first and used by every later call. Idempotent.
func Unsetenv() {
	mu.Lock()
	defer mu.Unlock()
	if !captured {
		addr = os.Getenv(EnvSocket)
		captured = true
	}
	os.Unsetenv(EnvSocket)
}

// FilterEnv returns env (in os.Environ form) without NOTIFY_SOCKET, for a
// child's exec.Cmd.Env. The slice is a copy; env is not modified.
func FilterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvSocket+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// Notify sends the states (each "VAR=VALUE"; a state may hold several lines)
// joined by newlines as one datagram to the notify socket. It returns
// (false, nil) when not running under systemd, (false, err) when the socket
// address is unusable or the send failed, and (true, nil) when the datagram
// was sent. Sent does not mean systemd accepted it: the protocol has no reply.
func Notify(state ...string) (bool, error) {
	a := socketAddr()
	if a == "" {
		return false, nil
	}
	if len(state) == 0 {
		return false, errors.New("sdnotify: no state to send")
	}
	if a[0] != '/' && a[0] != '@' {
		return false, fmt.Errorf("sdnotify: %s=%q: only absolute paths and @abstract names are supported", EnvSocket, a)
	}
	// x/sys/unix maps a leading '@' to the abstract namespace (a NUL first
	// byte); a path that does not fit in sun_path gives EINVAL.
	sa := &unix.SockaddrUnix{Name: a}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("sdnotify: socket: %w", err)
	}
	defer unix.Close(fd)
	msg := []byte(strings.Join(state, "\n"))
	for {
		err = unix.Sendto(fd, msg, unix.MSG_NOSIGNAL, sa)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("sdnotify: send to %s: %w", a, err)
	}
	return true, nil
}

// Ready tells systemd that start-up (or a reload) finished: READY=1. Like
// every helper below, it returns nil without sending when not under systemd.
func Ready() error { return send(StateReady) }

// Reloading tells systemd that a reload started: RELOADING=1 and
// MONOTONIC_USEC, the CLOCK_MONOTONIC time in microseconds, which systemd
// (≥ 253, for Type=notify-reload) uses to match the READY=1 that ends it.
func Reloading() error {
	usec, err := MonotonicUsec()
	if err != nil {
		return err
	}
	return send(StateReloading, "MONOTONIC_USEC="+strconv.FormatInt(usec, 10))
}

// Stopping tells systemd that shutdown started: STOPPING=1.
func Stopping() error { return send(StateStopping) }

// Status sets the one-line status that systemctl status shows: STATUS=s.
// Newlines in s would start new assignments, so they become spaces.
func Status(s string) error {
	return send("STATUS=" + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

// MonotonicUsec returns CLOCK_MONOTONIC in microseconds, the clock systemd
// expects in MONOTONIC_USEC.
func MonotonicUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("sdnotify: clock_gettime(CLOCK_MONOTONIC): %w", err)
	}
	// Timespec's fields are int32 on 32-bit systems.
	return int64(ts.Sec)*1_000_000 + int64(ts.Nsec)/1_000, nil
}

func send(state ...string) error {
	_, err := Notify(state...)
	return err
}
