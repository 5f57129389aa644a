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
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	workermand string
	rounds     int
	out        string
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemonbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	b := newBench(o)
	start := time.Now()
	for r := 1; r <= o.rounds && ctx.Err() == nil; r++ {
		logf("round %d/%d", r, o.rounds)
		b.round(ctx)
	}
	logf("done in %s", time.Since(start).Round(100*time.Millisecond))
	table := b.report()
	fmt.Print(table)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "daemonbench:", err)
			os.Exit(1)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "daemonbench: interrupted")
		os.Exit(1)
	}
	if !b.ok() {
		fmt.Fprintln(os.Stderr, "daemonbench: a measurement failed, a request failed, or a reload did not replace the children (see the table)")
		os.Exit(1)
	}
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
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "rounds" })
		if !set {
			o.rounds = 1
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

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
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
