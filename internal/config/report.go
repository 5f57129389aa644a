package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Files Check reads; variables so tests can move them.
var (
	procTCPMigrateReq   = "/proc/sys/net/ipv4/tcp_migrate_req"
	procUnprivPortStart = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
	procSelfStatus      = "/proc/self/status"
	getegid             = os.Getegid
)

// Summary is what `workermand check` prints for a valid file: the file (and
// the runtime paths once Resolve ran), then a table with one line per worker.
func (c *Config) Summary() string {
	var b strings.Builder
	name := c.Path
	switch {
	case name == "" && c.Program != "":
		name = "none (the workers of " + c.Program + ")"
	case name == "":
		name = embeddedName
	}
	fmt.Fprintf(&b, "config: %s\n", name)
	if c.PidFile != "" {
		fmt.Fprintf(&b, "pid_file: %s\n", c.PidFile)
	}
	if c.ControlSocket != "" {
		fmt.Fprintf(&b, "control_socket: %s\n", c.ControlSocket)
	}
	if m := c.Monitor.Summary(); m != "" {
		fmt.Fprintf(&b, "monitor: %s\n", m)
	}
	if c.Metrics.Enabled {
		fmt.Fprintf(&b, "metrics: %s\n", c.Metrics.URL())
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tLISTEN\tPROTOCOL\tCOUNT\tHANDLER\tUSER")
	for _, w := range c.Workers {
		handler, listen, scheme := w.Handler, w.Listen, w.Addr.Scheme
		if w.Code {
			handler = "(code)"
		}
		if listen == "" {
			listen, scheme = "(none)", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", w.Name, listen, scheme, w.Count, handler, w.userGroup())
	}
	tw.Flush()
	return b.String()
}

// userGroup formats "user", "user:group", ":group" or "-".
func (w *Worker) userGroup() string {
	switch {
	case w.User == "" && w.Group == "":
		return "-"
	case w.Group == "":
		return w.User
	}
	return w.User + ":" + w.Group
}

// Check calls warn for what is valid but probably not what the user wants,
// in the format of a Problem: reuse_port while the kernel would reset the
// connections queued on a retired process's socket
// (net.ipv4.tcp_migrate_req is 0 or missing), a privileged port without the
// right to bind it, a user or group the master cannot switch to.
func (c *Config) Check(warn func(string)) {
	say := func(key, format string, args ...any) {
		warn(Problem{File: c.name(), Line: c.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}.String())
	}
	migrate, migrateErr := os.ReadFile(procTCPMigrateReq)
	unprivStart := 1024
	if b, err := os.ReadFile(procUnprivPortStart); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			unprivStart = n
		}
	}
	root := geteuid() == 0
	c.checkMonitor(say)
	for _, w := range c.Workers {
		k := w.Key()
		if w.ReusePort {
			switch {
			case migrateErr != nil:
				say(joinKey(k, "reuse_port"), "this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14 added it): connections still queued on the socket of a process that a reload or a smaller count retires will be reset")
			case strings.TrimSpace(string(migrate)) == "0":
				say(joinKey(k, "reuse_port"), "net.ipv4.tcp_migrate_req is 0: connections still queued on the socket of a process that a reload or a smaller count retires will be reset; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1)")
			}
		}
		if p := int(w.Addr.Port); w.Addr.IP.IsValid() && p != 0 && p < unprivStart && !root && !hasCapNetBindService() {
			say(joinKey(k, "listen"), "port %d is below net.ipv4.ip_unprivileged_port_start (%d): binding it needs root or CAP_NET_BIND_SERVICE", p, unprivStart)
		}
		w.checkSocketFile(say)
		for _, p := range w.tlsWarnings {
			warn(p.String())
		}
		if !root && (w.UID >= 0 && w.UID != geteuid() || w.GID >= 0 && w.GID != getegid()) {
			say(joinKey(k, "user"), "the master will not run as root, so its processes cannot switch to %s", w.userGroup())
		}
	}
}

// hasCapNetBindService reads the effective capabilities of this process.
func hasCapNetBindService() bool {
	b, err := os.ReadFile(procSelfStatus)
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<10) != 0 // CAP_NET_BIND_SERVICE
		}
	}
	return false
}

// Diff compares the running config c with next, the file re-read for a
// reload, and returns one message (in the format of a Problem, pointing into
// next) per field that cannot change without a restart: pid_file,
// control_socket and the [metrics] endpoint. Empty means the reload may go
// ahead. The paths are compared as Resolve would make them.
func (c *Config) Diff(next *Config) []string {
	cur, nxt := *c, *next
	_ = cur.Resolve()
	_ = nxt.Resolve()
	var msgs []string
	for _, f := range []struct{ key, was, now string }{
		{"pid_file", cur.PidFile, nxt.PidFile},
		{"control_socket", cur.ControlSocket, nxt.ControlSocket},
	} {
		if f.was != f.now {
			msgs = append(msgs, Problem{
				File: next.name(), Line: next.lines.line(f.key), Key: f.key,
				Msg: fmt.Sprintf("cannot change on reload (running with %s, the file now says %s); restart to apply it", f.was, f.now),
			}.String())
		}
	}
	for _, p := range c.diffMetrics(next) {
		msgs = append(msgs, p.String())
	}
	return msgs
}
