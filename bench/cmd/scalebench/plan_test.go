package main

import "testing"

// The plan keeps every process under its descriptor limit and gives each
// load process source addresses of its own with ports enough, here and on
// a bigger box.
func TestMakePlan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		conns          int
		lim            limits
		procs, sources int // sources per load process
		loaders        int
	}{
		{"100k here", 100000, limits{nofile: 20000, portLo: 32768, portHi: 60999, cpus: 2}, 6, 1, 6},
		{"1M on 16 cores", 1000000, limits{nofile: 1048576, portLo: 32768, portHi: 60999, cpus: 16}, 16, 3, 16},
		{"small", 2000, limits{nofile: 20000, portLo: 32768, portHi: 60999, cpus: 2}, 2, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := makePlan(tc.conns, tc.lim, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.procs != tc.procs || p.srcPerLoad != tc.sources || p.loaders != tc.loaders {
				t.Fatalf("%v: want %d procs, %d sources, %d loaders", p, tc.procs, tc.sources, tc.loaders)
			}
			if p.procs*p.perProc < tc.conns || p.loaders*p.perLoad < tc.conns {
				t.Fatalf("%v does not hold %d connections", p, tc.conns)
			}
			if ports := tc.lim.portHi - tc.lim.portLo + 1; p.perLoad > p.srcPerLoad*ports {
				t.Fatalf("%v: more connections per load process than its addresses have ports", p)
			}
			if a, b := p.loaderSources(0), p.loaderSources(1); len(a) != tc.sources || a[0] == b[0] {
				t.Fatalf("load processes 0 and 1 have sources %v and %v", a, b)
			}
		})
	}
	if _, err := makePlan(100000, limits{nofile: 1024, portLo: 32768, portHi: 60999, cpus: 2}, 2, 0); err == nil {
		t.Fatal("50,000 connections per process under a limit of 1024: no error")
	}
}
