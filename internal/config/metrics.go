package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultMetricsListen is where [metrics] serves when the table leaves
// listen out: loopback, since the counters tell anyone who can read them
// how busy the daemon is and what it listens on.
const DefaultMetricsListen = "127.0.0.1:9100"

// DefaultMetricsPath is the URL path of the Prometheus text.
const DefaultMetricsPath = "/metrics"

var metricsKeys = []string{"enabled", "listen", "path"}

// Metrics is the [metrics] table: a Prometheus endpoint served by the
// master. The table's presence turns it on.
type Metrics struct {
	// Enabled is true when the file has a [metrics] table without
	// enabled = false (or the program set Daemon.MetricsListen).
	Enabled bool
	// Listen is host:port, the host an IP address or empty for every
	// interface (DefaultMetricsListen).
	Listen string
	// Path is the URL path served (DefaultMetricsPath).
	Path string
}

// URL is where the endpoint answers, as a scraper is configured with it.
func (m Metrics) URL() string {
	if !m.Enabled {
		return ""
	}
	host, port, _ := net.SplitHostPort(m.Listen)
	if host == "" {
		host = "0.0.0.0" // every interface: the URL names one of them
	}
	return "http://" + net.JoinHostPort(host, port) + m.Path
}

// metrics reads the [metrics] table into c.Metrics.
func (ck *checker) metrics(c *Config, top *table) {
	c.Metrics = Metrics{Listen: DefaultMetricsListen, Path: DefaultMetricsPath}
	v, ok := top.get("metrics")
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		top.wrongType("metrics", "a table ([metrics])", v)
		return
	}
	c.Metrics.Enabled = true
	t := ck.table("metrics", m)
	t.boolean("enabled", &c.Metrics.Enabled)
	var listen string
	if t.str("listen", &listen) {
		if err := CheckMetricsListen(listen); err != nil {
			ck.add(t.key("listen"), "%v", err)
		} else {
			c.Metrics.Listen = listen
		}
	}
	var path string
	if t.str("path", &path) {
		if err := checkMetricsPath(path); err != nil {
			ck.add(t.key("path"), "%v", err)
		} else {
			c.Metrics.Path = path
		}
	}
	t.unknown(metricsKeys)
}

// CheckMetricsListen checks a metrics listen address: host:port with an IP
// address (or nothing, for every interface) and a port from 1 to 65535.
// Names are refused: what a name resolves to may change between check and
// start, and a scraper is pointed at an address anyway.
func CheckMetricsListen(s string) error {
	if strings.Contains(s, "://") {
		return fmt.Errorf("%q: want host:port without a scheme, as in %q", s, DefaultMetricsListen)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (as in %q, or \":9100\" for every interface)", s, DefaultMetricsListen)
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return fmt.Errorf("%q: the host must be an IP address (as in 127.0.0.1 or [::1]) or empty for every interface", s)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", s)
	}
	return nil
}

func checkMetricsPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must start with /", p)
	case strings.ContainsAny(p, "?# \t\r\n\x00"):
		return fmt.Errorf("%q must be a plain URL path (no query, fragment or spaces)", p)
	}
	return nil
}

// metricsAddr is the metrics listen address parsed, the wildcard for an
// empty host; invalid when it does not parse.
func (m Metrics) metricsAddr() netip.AddrPort {
	host, port, err := net.SplitHostPort(m.Listen)
	if err != nil {
		return netip.AddrPort{}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}
	}
	ip := netip.IPv6Unspecified() // Go's listener on ":port" is dual-stack
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}
		}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(n))
}

// checkMetricsCollision reports a TCP worker bound where the metrics
// endpoint is: one of the two would fail to bind at start.
func (ck *checker) checkMetricsCollision(c *Config) {
	if !c.Metrics.Enabled {
		return
	}
	ma := c.Metrics.metricsAddr()
	if !ma.IsValid() {
		return
	}
	for _, w := range c.Workers {
		if w.Transport == "udp" || !w.Addr.IP.IsValid() || w.Addr.Port != ma.Port() {
			continue
		}
		wi := w.Addr.IP.Unmap()
		if wildcardCovers(ma.Addr(), false, wi) || wildcardCovers(wi, w.IPv6Only, ma.Addr()) {
			ck.add("metrics.listen", "%s is also where %s %q listens (%s%s)", c.Metrics.Listen, w.Key(), w.Name,
				w.Listen, lineNote(ck.lines.line(joinKey(w.Key(), "listen"))))
			return
		}
	}
}

// SetMetricsListen turns the endpoint on at addr unless the file has a
// [metrics] table: a program's Daemon.MetricsListen, which the file
// overrides as it does the program's other settings.
func (c *Config) SetMetricsListen(addr string) error {
	if addr == "" || c.Sets("metrics") {
		return nil
	}
	if err := CheckMetricsListen(addr); err != nil {
		return fmt.Errorf("MetricsListen: %w", err)
	}
	c.Metrics = Metrics{Enabled: true, Listen: addr, Path: DefaultMetricsPath}
	return nil
}

// diffMetrics is Diff's part for [metrics]: the endpoint is the master's,
// which a reload keeps, so changing it needs a restart, as pid_file does.
func (c *Config) diffMetrics(next *Config) []Problem {
	if c.Metrics == next.Metrics {
		return nil
	}
	key := "metrics"
	if next.Sets("metrics.listen") && c.Metrics.Listen != next.Metrics.Listen {
		key = "metrics.listen"
	}
	return []Problem{{File: next.name(), Line: next.lines.line(key), Key: key,
		Msg: fmt.Sprintf("cannot change on reload (running with %s, the file now says %s); restart to apply it",
			c.Metrics.describe(), next.Metrics.describe())}}
}

func (m Metrics) describe() string {
	if !m.Enabled {
		return "no metrics endpoint"
	}
	return m.URL()
}
