package runner

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// Flags are the flags of the drivers that compare servers side by side
// (benchrun, wsbench, httpbench).
type Flags struct {
	Workermand    string
	WorkermandCmd string
	Servers       []string
	Rounds        int
	Duration      time.Duration
	Warmup        time.Duration
	ServerCPU     int
	LoadCPU       int
	Out           string

	fs      *flag.FlagSet
	spec    FlagSpec
	servers *string
	quick   *bool
}

// FlagSpec says what differs between the drivers' shared flags. Empty
// help texts get the common ones.
type FlagSpec struct {
	WorkermandCmd     string   // -workermand-cmd's default
	WorkermandCmdHelp string   // its help
	Servers           []string // the servers it knows, all run by default
	Load              string   // what the load generator is called in help texts ("wrk")
	RoundsHelp        string
	DurationHelp      string
	WarmupHelp        string
	Quick             map[string]string // flag values of a -quick run
	QuickHelp         string
}

// FlagSet returns a flag set named name holding the shared flags; the
// driver adds its own and calls Parse.
func (f *Flags) FlagSet(name string, spec FlagSpec) *flag.FlagSet {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	load := or(spec.Load, "the load generator")
	f.spec = spec
	f.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	f.fs.StringVar(&f.Workermand, "workermand", "../bin/workermand", "`path` of the workermand binary")
	f.fs.StringVar(&f.WorkermandCmd, "workermand-cmd", spec.WorkermandCmd, spec.WorkermandCmdHelp)
	f.servers = f.fs.String("servers", strings.Join(spec.Servers, ","), "comma-separated servers to run, in order; ratios are to the first")
	f.fs.IntVar(&f.Rounds, "rounds", 5, or(spec.RoundsHelp, "rounds; each runs every server once and the table shows medians"))
	f.fs.DurationVar(&f.Duration, "duration", 5*time.Second,
		or(spec.DurationHelp, "measured window of each throughput test (≥3s keeps the 10ms CPU tick error small)"))
	f.fs.DurationVar(&f.Warmup, "warmup", time.Second, or(spec.WarmupHelp, "unmeasured lead-in before each window"))
	f.fs.IntVar(&f.ServerCPU, "server-cpu", 1, "CPU the server is pinned to")
	f.fs.IntVar(&f.LoadCPU, "load-cpu", 0, "CPU "+load+" is pinned to")
	f.fs.StringVar(&f.Out, "out", "", "also write the Markdown table to this `file`")
	f.quick = f.fs.Bool("quick", false, spec.QuickHelp)
	return f.fs
}

// Parse parses args, applies -quick where the command line did not say
// otherwise, and checks the servers, the rounds and the CPUs.
func (f *Flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", f.fs.Args())
	}
	if *f.quick {
		if err := Quick(f.fs, f.spec.Quick); err != nil {
			return err
		}
	}
	var err error
	if f.Servers, err = ParseList(*f.servers, f.spec.Servers, "server"); err != nil {
		return err
	}
	switch {
	case f.Rounds < 1:
		return fmt.Errorf("-rounds must be at least 1")
	case f.ServerCPU == f.LoadCPU:
		return fmt.Errorf("-server-cpu and -load-cpu are both %d: they must differ", f.ServerCPU)
	}
	return nil
}
