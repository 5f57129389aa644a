package main

import "testing"

// The plan keeps every process under its descriptor limit and every
// source–destination pair under the port range, here and on a bigger box.
func TestMakePlan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		conns          int
		lim            limits
		procs, sources int
		loaders        int
	}{
		{"100k here", 100000, limits{nofile: 20000, ports: 28232, cpus: 2}, 6, 0, 6},
		{"1M on 16 cores", 1000000, limits{nofile: 1048576, ports: 28232, cpus: 16}, 16, 3, 16},
		{"small", 2000, limits{nofile: 20000, ports: 28232, cpus: 2}, 2, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := makePlan(tc.conns, tc.lim, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.procs != tc.procs || len(p.sources) != tc.sources || p.loaders != tc.loaders {
				t.Fatalf("%v: want %d procs, %d sources, %d loaders", p, tc.procs, tc.sources, tc.loaders)
			}
			if p.procs*p.perProc < tc.conns || p.loaders*p.perLoad < tc.conns {
				t.Fatalf("%v does not hold %d connections", p, tc.conns)
			}
			pairs := max(1, len(p.sources))
			if per := ceilDiv(p.perProc, pairs); per > tc.lim.ports {
				t.Fatalf("%v: %d connections per address pair, more than %d ports", p, per, tc.lim.ports)
			}
		})
	}
	if _, err := makePlan(100000, limits{nofile: 1024, ports: 28232, cpus: 2}, 2, 0); err == nil {
		t.Fatal("50,000 connections per process under a limit of 1024: no error")
	}
}
