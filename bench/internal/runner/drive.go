package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Main is the whole main of a driver: it runs the hidden subcommand
// os.Args names, if any; else it parses the flags (-h exits 0, a bad
// command line 2), runs the driver until SIGTERM or SIGINT, and exits 1 on
// an error, or, saying failed, when the run did not pass.
func Main[O any](name string, subs map[string]func([]string) error, parse func([]string) (O, error),
	run func(context.Context, O) (ok bool, err error), failed string) {
	if RunSubcommand(subs) {
		return
	}
	o, err := parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	ok, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, failed)
		os.Exit(1)
	}
}

// RunSubcommand runs the hidden subcommand os.Args[1] names, if it is one
// of subs (the servers and generators a driver starts by re-running its own
// executable), and reports whether it did. A failing one exits with 1.
func RunSubcommand(subs map[string]func(args []string) error) bool {
	if len(os.Args) < 2 {
		return false
	}
	sub, ok := subs[os.Args[1]]
	if !ok {
		return false
	}
	Exit(os.Args[1], sub(os.Args[2:]))
	return true
}

// Exit ends a command that returned err: with 1 and the error on stderr,
// unless err is nil or the -h flag's.
func Exit(name string, err error) {
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Quick gives the flags of a -quick run their values, except those the
// command line set itself.
func Quick(fs *flag.FlagSet, values map[string]string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, val := range values {
		if !set[name] {
			if err := fs.Set(name, val); err != nil {
				return fmt.Errorf("quick %s: %w", name, err)
			}
		}
	}
	return nil
}

// ParseList splits a comma-separated list and checks every item is known
// and listed once.
func ParseList(s string, known []string, what string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case !slices.Contains(known, item):
			return nil, fmt.Errorf("unknown %s %q (want one of %s)", what, item, strings.Join(known, ", "))
		case slices.Contains(out, item):
			return nil, fmt.Errorf("%s %q listed twice", what, item)
		}
		out = append(out, item)
	}
	return out, nil
}

// Report prints a driver's table on stdout and, when out is set, writes
// it to that file too.
func Report(table, out string) error {
	fmt.Print(table)
	if out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	return nil
}

// Logf writes a progress line, with the time, on stderr.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Machine names what the figures were taken with: the Go version, the
// CPU model, and when.
func Machine() string {
	return fmt.Sprintf("%s on %s, %s", runtime.Version(), CPUModel(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
}

// WorkermandBin returns the absolute path of the workermand binary at
// path: the drivers that run the daemon themselves change directories and
// pass it on, and a missing binary should fail before any round starts.
func WorkermandBin(path string) (string, error) {
	bin, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		return "", fmt.Errorf("%w (build it with `make build` in the project root)", err)
	}
	return bin, nil
}

// Preflight finds this program, which the servers and generators run as
// hidden subcommands, and fails early, with a hint, when taskset or a
// server's program is missing; argv gives a server's command line, and
// refs is the -servers value that leaves workermand out.
func Preflight(servers []string, argv func(self, server, addr string) (argv, env []string, err error), refs string) (self string, err error) {
	if self, err = os.Executable(); err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", fmt.Errorf("taskset (util-linux) is needed to pin processes: %w", err)
	}
	for _, s := range servers {
		a, _, err := argv(self, s, "127.0.0.1:1")
		if err != nil {
			return "", err
		}
		if _, err := exec.LookPath(a[0]); err != nil {
			return "", fmt.Errorf("%s: %w (build it with `go build -o bin/workermand ./cmd/workermand` in the project root, or use -servers %s)", s, err, refs)
		}
	}
	return self, nil
}
