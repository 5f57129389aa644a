package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// limits are what this machine allows: the open-files limit every process
// of the run inherits, the local port range a client address draws from,
// and the cores.
type limits struct {
	nofile uint64 // RLIMIT_NOFILE after raising the soft limit to the hard one
	ports  int    // ports in net.ipv4.ip_local_port_range
	cpus   int
}

// plan is how a run spreads its connections: worker processes (one
// websocket worker each, on its own loopback destination address),
// source addresses, and load processes.
type plan struct {
	conns   int
	procs   int      // worker processes, one per destination
	dests   []string // 127.0.0.1 … 127.0.0.<procs>
	sources []string // client source addresses; none: the kernel picks 127.0.0.1
	loaders int      // load processes
	perProc int      // connections per worker process (the last may hold fewer)
	perLoad int      // connections per load process (the last may hold fewer)
}

// fdHeadroom is the part of a process's descriptor limit a run plans to
// use: the rest is for the process's own files (listener, channel, logs),
// and a process at its very limit would be measuring the limit, not the
// connections.
const fdHeadroom = 0.9

// portHeadroom is the part of the local port range one source address is
// planned to use towards one destination: the kernel's search for a free
// port slows down as the range fills.
const portHeadroom = 0.9

// makePlan derives the processes, addresses and load processes from the
// limits; a non-zero procs or loaders overrides the derived count.
func makePlan(conns int, lim limits, procs, loaders int) (plan, error) {
	p := plan{conns: conns}
	if conns < 1 {
		return p, fmt.Errorf("-conns must be at least 1")
	}
	perFD := int(float64(lim.nofile) * fdHeadroom)
	if perFD < 1 {
		return p, fmt.Errorf("open-files limit %d leaves no room for connections", lim.nofile)
	}
	if procs <= 0 {
		procs = max(lim.cpus, ceilDiv(conns, perFD))
	}
	if procs > 250 {
		return p, fmt.Errorf("%d worker processes needed: more than the 250 destination addresses 127.0.0.1–250 this benchmark uses", procs)
	}
	p.procs = procs
	p.perProc = ceilDiv(conns, procs)
	if p.perProc > perFD {
		return p, fmt.Errorf("%d connections per process exceed %.0f%% of the open-files limit %d: raise it (ulimit -n) or -procs", p.perProc, 100*fdHeadroom, lim.nofile)
	}
	for i := range procs {
		p.dests = append(p.dests, fmt.Sprintf("127.0.0.%d", i+1))
	}
	perPair := int(float64(lim.ports) * portHeadroom)
	if perPair < 1 {
		return p, fmt.Errorf("local port range of %d ports is too small", lim.ports)
	}
	if n := ceilDiv(p.perProc, perPair); n > 1 {
		if n > 250 {
			return p, fmt.Errorf("%d source addresses needed", n)
		}
		// Sources apart from the destinations: 127.0.1.x.
		for i := range n {
			p.sources = append(p.sources, fmt.Sprintf("127.0.1.%d", i+1))
		}
	}
	if loaders <= 0 {
		loaders = max(lim.cpus, ceilDiv(conns, perFD))
	}
	p.loaders = loaders
	p.perLoad = ceilDiv(conns, loaders)
	if p.perLoad > perFD {
		return p, fmt.Errorf("%d connections per load process exceed %.0f%% of the open-files limit %d: raise it or -loaders", p.perLoad, 100*fdHeadroom, lim.nofile)
	}
	return p, nil
}

func (p plan) String() string {
	src := "the kernel's (127.0.0.1)"
	if len(p.sources) > 0 {
		src = fmt.Sprintf("%d (%s–%s)", len(p.sources), p.sources[0], p.sources[len(p.sources)-1])
	}
	return fmt.Sprintf("%d connections: %d worker processes on %s–%s (%d each), source addresses %s, %d load processes (%d each)",
		p.conns, p.procs, p.dests[0], p.dests[len(p.dests)-1], p.perProc, src, p.loaders, p.perLoad)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// readPortRange reads net.ipv4.ip_local_port_range and returns how many
// ports it holds.
func readPortRange() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, fmt.Errorf("read the local port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, fmt.Errorf("local port range %q", b)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, fmt.Errorf("local port range %q", b)
	}
	return hi - lo + 1, nil
}
