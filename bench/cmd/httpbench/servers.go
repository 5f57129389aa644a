package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/workermand/workermand/bench/internal/httpserver"
	"github.com/workermand/workermand/bench/internal/nginx"
	"github.com/workermand/workermand/bench/internal/runner"
)

// staticFiles are the files of the static tests, by name and size.
var staticFiles = []struct {
	name string
	size int
}{{"4k.bin", 4 << 10}, {"1m.bin", 1 << 20}}

// writeStaticFiles fills dir with pseudo-random contents (so neither side
// can win by compressing or by a constant page) readable by anyone, since
// nginx's worker may run as another user.
func writeStaticFiles(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("static dir: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range staticFiles {
		b := make([]byte, f.size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o644); err != nil {
			return fmt.Errorf("static file: %w", err)
		}
	}
	return nil
}

// serves reports whether server takes part in a test group: the gnet
// server only answers hello world.
func serves(server string, static bool) bool {
	return !static || server != "gnet"
}

// command returns the command line (and extra environment) that starts
// server on addr; dir is a fresh directory the server may use for its own
// files (nginx's config, pid and log).
func (b *bench) command(server string, static bool, addr, dir string) (argv, env []string, err error) {
	switch server {
	case "gnet":
		// One core, said explicitly rather than left to the runtime
		// reading the affinity mask.
		return []string{b.self, "gnethttp", "-addr", addr}, []string{"GOMAXPROCS=1"}, nil
	case "net":
		argv = []string{b.self, "nethttp", "-addr", addr}
		if static {
			argv = append(argv, "-root", b.staticDir)
		}
		return argv, []string{"GOMAXPROCS=1"}, nil
	case "nginx":
		site := nginx.Site{Addr: addr, Body: httpserver.Body}
		if static {
			site = nginx.Site{Addr: addr, Root: b.staticDir}
		}
		argv, err := b.ng.Command(site, dir)
		return argv, nil, err
	case "workermand":
		tmpl := b.WorkermandCmd
		if static {
			tmpl = b.workermandStaticCmd
		}
		argv, err := runner.WorkermandArgv(tmpl, b.Workermand, b.self, addr, map[string]string{"dir": b.staticDir})
		return argv, nil, err // workermand sizes itself to its one CPU
	}
	return nil, nil, fmt.Errorf("unknown server %q", server)
}
