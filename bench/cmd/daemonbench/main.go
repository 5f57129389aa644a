// Command daemonbench measures workermand as a daemon (master + children),
// through its CLI, the way an operator uses it:
//
//   - time from `start -d` to ready, with 1 and 4 children;
//   - time for a `reload` of 4 children;
//   - failed requests during 10 reloads under a new-connection-per-request load;
//   - `status --json` latency with 8 children;
//   - how evenly 400 connections spread over 4 children, with one shared
//     listener and with reuse_port.
//
// Every measure starts its own master, in its own temp dir with its own
// config, on a free 127.0.0.1 port, and stops it with `workermand stop`.
//
//	go run ./cmd/daemonbench -workermand ../bin/workermand
//	go run ./cmd/daemonbench -quick
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

type options struct {
	workermand string
	rounds     int
	out        string
}

func main() {
	runner.Main("daemonbench", nil, parseFlags, run,
		"a measurement failed, a request failed, or a reload did not replace the children (see the table)")
}

// run runs the rounds and prints the table; an interrupted run fails.
func run(ctx context.Context, o options) (ok bool, err error) {
	b := newBench(o)
	start := time.Now()
	for r := 1; r <= o.rounds && ctx.Err() == nil; r++ {
		runner.Logf("round %d/%d", r, o.rounds)
		b.round(ctx)
	}
	runner.Logf("done in %s", time.Since(start).Round(100*time.Millisecond))
	if err := runner.Report(b.report(), o.out); err != nil {
		return false, err
	}
	if ctx.Err() != nil {
		return false, errors.New("interrupted")
	}
	return b.ok(), nil
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("daemonbench", flag.ContinueOnError)
	fs.StringVar(&o.workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every measure once on fresh daemons")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to this `file`")
	quick := fs.Bool("quick", false, "smoke run: 1 round (an explicit -rounds still wins)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		if err := runner.Quick(fs, map[string]string{"rounds": "1"}); err != nil {
			return o, err
		}
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds must be at least 1")
	}
	if _, err := exec.LookPath(o.workermand); err != nil {
		return o, fmt.Errorf("%w (build it with `go build -o bin/workermand ./cmd/workermand` in the project root)", err)
	}
	return o, nil
}

// version returns the binary's `workermand version` line.
func version(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown version"
	}
	return strings.TrimSpace(string(out))
}

// errorsSummary joins up to n messages with "; ".
func errorsSummary(msgs []string, n int) string {
	if len(msgs) > n {
		msgs = append(msgs[:n:n], fmt.Sprintf("… and %d more", len(msgs)-n))
	}
	return strings.Join(msgs, "; ")
}
