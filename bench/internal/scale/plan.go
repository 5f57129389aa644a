// Package scale plans and opens many websockets on one machine: how many
// worker processes on which loopback destination addresses, and which
// load processes with which source addresses and ports (scalebench's
// 100,000 idle connections, fanout's broadcast over processes).
package scale

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/workermand/workermand/bench/internal/runner"
)

// Limits are what this machine allows: the open-files limit every process
// of the run inherits, the local port range a client address draws from,
// and the cores.
type Limits struct {
	NoFile         uint64 // RLIMIT_NOFILE after raising the soft limit to the hard one
	PortLo, PortHi int    // net.ipv4.ip_local_port_range
	CPUs           int
}

// Plan is how a run spreads its connections: worker processes (one
// websocket worker each, on its own loopback destination address),
// source addresses, and load processes.
type Plan struct {
	Conns      int
	Procs      int      // worker processes, one per destination
	Dests      []string // 127.0.0.1 … 127.0.0.<procs>
	Loaders    int      // load processes
	PerProc    int      // connections per worker process (the last may hold fewer)
	PerLoad    int      // connections per load process (the last may hold fewer)
	SrcPerLoad int      // source addresses of each load process
}

// fdHeadroom is the part of a process's descriptor limit a run plans to
// use: the rest is for the process's own files (listener, channel, logs),
// and a process at its very limit would be measuring the limit, not the
// connections.
const fdHeadroom = 0.9

// portHeadroom is the part of the local port range one source address is
// planned to use; the rest stands in for ports found taken.
const portHeadroom = 0.9

// MakePlan derives the processes, addresses and load processes from the
// limits; a non-zero procs or loaders overrides the derived count.
func MakePlan(conns int, lim Limits, procs, loaders int) (Plan, error) {
	p := Plan{Conns: conns}
	if conns < 1 {
		return p, fmt.Errorf("-conns must be at least 1")
	}
	perFD := int(float64(lim.NoFile) * fdHeadroom)
	if perFD < 1 {
		return p, fmt.Errorf("open-files limit %d leaves no room for connections", lim.NoFile)
	}
	if procs <= 0 {
		procs = max(lim.CPUs, CeilDiv(conns, perFD))
	}
	if procs > 250 {
		return p, fmt.Errorf("%d worker processes needed: more than the 250 destination addresses 127.0.0.1–250 this benchmark uses", procs)
	}
	p.Procs = procs
	p.PerProc = CeilDiv(conns, procs)
	if p.PerProc > perFD {
		return p, fmt.Errorf("%d connections per process exceed %.0f%% of the open-files limit %d: raise it (ulimit -n) or -procs", p.PerProc, 100*fdHeadroom, lim.NoFile)
	}
	for i := range procs {
		p.Dests = append(p.Dests, fmt.Sprintf("127.0.0.%d", i+1))
	}
	if loaders <= 0 {
		loaders = max(lim.CPUs, CeilDiv(conns, perFD))
	}
	if loaders > 256 {
		return p, fmt.Errorf("%d load processes: more than the 256 this benchmark numbers", loaders)
	}
	p.Loaders = loaders
	p.PerLoad = CeilDiv(conns, loaders)
	if p.PerLoad > perFD {
		return p, fmt.Errorf("%d connections per load process exceed %.0f%% of the open-files limit %d: raise it or -loaders", p.PerLoad, 100*fdHeadroom, lim.NoFile)
	}
	// Each load process binds its connections to source addresses of its
	// own, each used through the local port range (see hold.go).
	perSource := int(float64(lim.PortHi-lim.PortLo+1) * portHeadroom)
	if perSource < 1 {
		return p, fmt.Errorf("local port range %d-%d is too small", lim.PortLo, lim.PortHi)
	}
	p.SrcPerLoad = CeilDiv(p.PerLoad, perSource)
	if p.SrcPerLoad > 254 {
		return p, fmt.Errorf("%d source addresses per load process needed", p.SrcPerLoad)
	}
	return p, nil
}

// LoaderSources are load process j's source addresses: 127.1.j.1 and on,
// apart from the destinations (127.0.0.x) and from the other load
// processes, so no two connections of the run ask for the same port of
// the same address.
func (p Plan) LoaderSources(j int) []string {
	var out []string
	for k := range p.SrcPerLoad {
		out = append(out, fmt.Sprintf("127.1.%d.%d", j, k+1))
	}
	return out
}

func (p Plan) String() string {
	return fmt.Sprintf("%d connections: %d worker processes on %s–%s (%d each), %d load processes (%d each, from %d source address(es) of their own)",
		p.Conns, p.Procs, p.Dests[0], p.Dests[len(p.Dests)-1], p.PerProc, p.Loaders, p.PerLoad, p.SrcPerLoad)
}

func CeilDiv(a, b int) int { return (a + b - 1) / b }

// ReadPortRange reads net.ipv4.ip_local_port_range.
func ReadPortRange() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, fmt.Errorf("read the local port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("local port range %q", b)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, 0, fmt.Errorf("local port range %q", b)
	}
	return lo, hi, nil
}

// PlanHere raises this process's open-files limit (the run's processes
// inherit it), reads this machine's limits, plans conns connections on
// them and logs both.
func PlanHere(conns, procs, loaders int) (Limits, Plan, error) {
	nofile, err := runner.RaiseNoFile()
	if err != nil {
		return Limits{}, Plan{}, err
	}
	lo, hi, err := ReadPortRange()
	if err != nil {
		return Limits{}, Plan{}, err
	}
	lim := Limits{NoFile: nofile, PortLo: lo, PortHi: hi, CPUs: runtime.NumCPU()}
	p, err := MakePlan(conns, lim, procs, loaders)
	if err != nil {
		return lim, Plan{}, err
	}
	runner.Logf("limits: %d open files, local ports %d-%d, %d cores; plan: %v", nofile, lo, hi, lim.CPUs, p)
	return lim, p, nil
}
