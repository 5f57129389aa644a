package scale

import "testing"

// The plan keeps every process under its descriptor limit and gives each
// load process source addresses of its own with ports enough, here and on
// a bigger box.
func TestMakePlan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		conns          int
		lim            Limits
		procs, sources int // sources per load process
		loaders        int
	}{
		{"100k here", 100000, Limits{NoFile: 20000, PortLo: 32768, PortHi: 60999, CPUs: 2}, 6, 1, 6},
		{"1M on 16 cores", 1000000, Limits{NoFile: 1048576, PortLo: 32768, PortHi: 60999, CPUs: 16}, 16, 3, 16},
		{"small", 2000, Limits{NoFile: 20000, PortLo: 32768, PortHi: 60999, CPUs: 2}, 2, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := MakePlan(tc.conns, tc.lim, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.Procs != tc.procs || p.SrcPerLoad != tc.sources || p.Loaders != tc.loaders {
				t.Fatalf("%v: want %d procs, %d sources, %d loaders", p, tc.procs, tc.sources, tc.loaders)
			}
			if p.Procs*p.PerProc < tc.conns || p.Loaders*p.PerLoad < tc.conns {
				t.Fatalf("%v does not hold %d connections", p, tc.conns)
			}
			if ports := tc.lim.PortHi - tc.lim.PortLo + 1; p.PerLoad > p.SrcPerLoad*ports {
				t.Fatalf("%v: more connections per load process than its addresses have ports", p)
			}
			if a, b := p.LoaderSources(0), p.LoaderSources(1); len(a) != tc.sources || a[0] == b[0] {
				t.Fatalf("load processes 0 and 1 have sources %v and %v", a, b)
			}
		})
	}
	if _, err := MakePlan(100000, Limits{NoFile: 1024, PortLo: 32768, PortHi: 60999, CPUs: 2}, 2, 0); err == nil {
		t.Fatal("50,000 connections per process under a limit of 1024: no error")
	}
}
