package runner

import (
	"context"

	"github.com/workermand/workermand/bench/internal/proc"
)

// Launch starts a server on a fresh loopback port, pinned to cpu; argv
// gives its command line (and environment on top of ours) for the
// address.
func Launch(name string, cpu int, argv func(addr string) (argv, env []string, err error)) (*Server, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	a, env, err := argv(addr)
	if err != nil {
		return nil, err
	}
	return StartServer(name, cpu, a, env, addr)
}

// LaunchUDP is Launch for a datagram echo server on a fresh loopback UDP
// port (see StartUDP).
func LaunchUDP(name string, cpu int, argv func(addr string) (argv, env []string, err error)) (*Server, error) {
	addr, err := FreeUDPAddr()
	if err != nil {
		return nil, err
	}
	a, env, err := argv(addr)
	if err != nil {
		return nil, err
	}
	return StartUDP(name, Pinned(context.Background(), cpu, a, env), addr)
}

// Meter reads, at the start and the end of a measured window, the CPU time
// of a server's process tree and the busy time of the benchmark's cores.
type Meter struct {
	Pid    int   // the server's
	ClkTck int64 // from proc.ClockTicks
	CPUs   []int // the cores server and generator are pinned to

	t0, t1, c0, c1 int64
	coreErr        error
}

func (m *Meter) Start() error {
	var err error
	m.c0, _, m.coreErr = CoreTicks(m.CPUs...)
	m.t0, err = proc.CPUTicks(m.Pid)
	return err
}

func (m *Meter) Stop() error {
	var err error
	m.t1, err = proc.CPUTicks(m.Pid)
	var cerr error
	m.c1, _, cerr = CoreTicks(m.CPUs...)
	if m.coreErr == nil {
		m.coreErr = cerr
	}
	return err
}

// Server is the server's CPU seconds in the window.
func (m *Meter) Server() float64 { return float64(m.t1-m.t0) / float64(m.ClkTck) }

// Other is the % of one core that whatever else ran on the cores used over
// wall seconds: other processes, and kernel work (interrupts, softirqs)
// charged to neither the server nor the generator, which used gen CPU
// seconds. It is -1 when the cores could not be read.
func (m *Meter) Other(wall, gen float64) float64 {
	if m.coreErr != nil {
		return -1
	}
	other := float64(m.c1-m.c0)/float64(m.ClkTck) - m.Server() - gen
	return max(0, 100*other/wall)
}

// Quietest measures, and while other work used more than maxOther % of a
// core during the window measures again, twice at most, keeping the
// quietest try: another tenant's burst skews every figure of a window, and
// a second or third try usually finds the machine quiet again. others
// reads a try's figure; again, called before each retry, says so.
func Quietest[T any](maxOther float64, measure func() (T, error), others func(T) float64, again func(T)) (T, error) {
	smp, err := measure()
	for try := 1; err == nil && others(smp) > maxOther && try <= 2; try++ {
		again(smp)
		var next T
		if next, err = measure(); err == nil && others(next) < others(smp) {
			smp = next
		}
	}
	return smp, err
}
