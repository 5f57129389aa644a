package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel settings CheckSystem reads; variables so tests can move them.
var (
	procSomaxconn      = "/proc/sys/net/core/somaxconn"
	procLocalPortRange = "/proc/sys/net/ipv4/ip_local_port_range"
	procNrOpen         = "/proc/sys/fs/nr_open"
	getrlimitNoFile    = func() (soft, hard uint64, err error) {
		var l unix.Rlimit
		err = unix.Getrlimit(unix.RLIMIT_NOFILE, &l)
		return l.Cur, l.Max, err
	}
)

// fdReserve is what a process holds besides its connections: the
// listening socket, epoll, eventfd, the master's channel, log files, a
// few clients.
const fdReserve = 64

// Finding is one line of CheckSystem: what was looked at, and whether it
// limits the daemon.
type Finding struct {
	// Warn is set when the setting limits what the config asks for.
	Warn bool
	// What names the setting, Msg says what it means here.
	What, Msg string
}

// CheckSystem reports what on this machine limits the daemon c describes
// (`check --system`), each finding once: the open-files limit against
// max_connections and the master's sockets, net.core.somaxconn against
// the workers' backlogs, net.ipv4.tcp_migrate_req for reuse_port workers,
// and the local port range outbound clients draw from. Call it after
// Resolve; Check covers privileged ports and users.
func (c *Config) CheckSystem() []Finding {
	var out []Finding
	add := func(warn bool, what, format string, args ...any) {
		out = append(out, Finding{Warn: warn, What: what, Msg: fmt.Sprintf(format, args...)})
	}

	// Open files. Rlimits are per process and inherited: every child has
	// the master's, whatever user it switches to, and raises its soft limit
	// to the hard one.
	soft, hard, err := getrlimitNoFile()
	if err != nil {
		add(true, "open files", "cannot read RLIMIT_NOFILE: %v", err)
	} else {
		nrOpen := readProcInt(procNrOpen)
		raise := "raise the hard limit: LimitNOFILE= in the systemd unit, or ulimit -Hn before start"
		if nrOpen > 0 {
			raise += fmt.Sprintf(" (the kernel allows up to fs.nr_open = %d)", nrOpen)
		}
		limited := false
		for _, w := range c.Workers {
			if w.MaxConnections > 0 && uint64(w.MaxConnections+fdReserve) > hard {
				add(true, "open files", "%s: max_connections = %d needs about %d descriptors per process, the hard limit is %d: %s",
					w.Key(), w.MaxConnections, w.MaxConnections+fdReserve, hard, raise)
				limited = true
			}
		}
		unbounded := 0
		for _, w := range c.Workers {
			if w.MaxConnections == 0 && w.Listen != "" && w.Transport != "udp" {
				unbounded++
			}
		}
		switch {
		case limited:
		case unbounded > 0 && hard < 65536:
			add(true, "open files", "hard limit %d: a process holds at most about %d connections (workers without max_connections stop accepting there, counted as accept pauses); %s",
				hard, hard-min(hard, fdReserve), raise)
		default:
			add(false, "open files", "soft %d, hard %d: each process raises its soft limit to %d", soft, hard, hard)
		}
		// The master keeps every listening socket and two descriptors per
		// child, and does not raise its own soft limit.
		need := fdReserve
		for _, w := range c.Workers {
			need += 2 * w.Count
			if w.Listen != "" {
				need++
				if w.ReusePort {
					need += w.Count - 1
				}
			}
		}
		if uint64(need) > soft {
			add(true, "open files", "the master needs about %d descriptors (listening sockets and two per process) and its soft limit is %d: ulimit -n %d before start", need, soft, need)
		}
	}

	// The listen backlog is capped by the kernel.
	if somax := readProcInt(procSomaxconn); somax > 0 {
		var capped []string
		for _, w := range c.Workers {
			if w.Listen != "" && w.Transport != "udp" && uint64(w.Backlog) > somax {
				capped = append(capped, fmt.Sprintf("%s (%d)", w.Name, w.Backlog))
			}
		}
		if len(capped) > 0 {
			add(true, "net.core.somaxconn", "%d caps the listen backlog of %s: a burst of more connections than that waiting to be accepted is dropped; sysctl -w net.core.somaxconn=65535 (and net.ipv4.tcp_max_syn_backlog)",
				somax, strings.Join(capped, ", "))
		} else {
			add(false, "net.core.somaxconn", "%d, not below any worker's backlog", somax)
		}
	}

	// reuse_port and retired processes (Check says it at the worker too).
	for _, w := range c.Workers {
		if !w.ReusePort {
			continue
		}
		b, err := os.ReadFile(procTCPMigrateReq)
		switch {
		case err != nil:
			add(true, "net.ipv4.tcp_migrate_req", "missing (Linux 5.14 added it): with reuse_port, connections queued on a retiring process's socket are reset on reload")
		case strings.TrimSpace(string(b)) == "0":
			add(true, "net.ipv4.tcp_migrate_req", "0: with reuse_port, connections queued on a retiring process's socket are reset on reload; sysctl -w net.ipv4.tcp_migrate_req=1")
		default:
			add(false, "net.ipv4.tcp_migrate_req", "1: a retiring reuse_port socket's queue moves to a sibling")
		}
		break
	}

	// Outbound connections (AsyncTcpConnection, a proxy) to one address
	// and port each take a local port.
	if b, err := os.ReadFile(procLocalPortRange); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, _ := strconv.Atoi(f[0])
			hi, _ := strconv.Atoi(f[1])
			add(false, "net.ipv4.ip_local_port_range", "%d–%d: at most %d outbound connections from one address to one server address and port",
				lo, hi, hi-lo+1)
		}
	}
	return out
}

// readProcInt reads a number from a /proc file, 0 when it cannot.
func readProcInt(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
