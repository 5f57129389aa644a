package cliapp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/workermand/workermand/internal/master"
)

// newDebugCommand groups what finds out why a process is busy: its
// goroutines' stacks, a CPU profile. Both go through the master and the
// child's channel, and the child answers from a goroutine other than its
// event loop, so a process stuck in a handler answers too.
func newDebugCommand(st streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Inspect a worker process: its goroutine stacks, a CPU profile (see docs/debugging.md)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return UsageError(fmt.Errorf("unknown debug command %q: stack or profile", args[0]))
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newDebugStackCommand(st), newDebugProfileCommand(st))
	return cmd
}

func newDebugStackCommand(st streams) *cobra.Command {
	return &cobra.Command{
		Use:   "stack PID|WORKER:ID",
		Short: "Print a process's goroutine stacks, its event loop's first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := parseDebugTarget(args[0])
			if err != nil {
				return err
			}
			rep, err := askDebug(st, "debug_stack", q)
			if err != nil {
				return err
			}
			printStack(st.out, rep)
			return nil
		},
	}
}

// printStack writes the dump under a line that says whose it is and which
// goroutine is the loop: the runtime prints goroutines by number, and the
// loop's number means nothing to a reader.
func printStack(w io.Writer, rep *master.DebugReply) {
	fmt.Fprintf(w, "# pid %d, worker %s #%d (gen %d): %d goroutines", rep.PID, rep.Worker, rep.ID, rep.Generation, rep.Goroutines)
	if rep.LoopGoroutine != 0 {
		fmt.Fprintf(w, "; the first, goroutine %d, runs the event loop and every callback\n", rep.LoopGoroutine)
	} else {
		fmt.Fprint(w, "; no event loop runs (starting or stopped)\n")
	}
	if rep.Truncated {
		fmt.Fprintf(w, "# cut at %d bytes\n", len(rep.Stack))
	}
	fmt.Fprintln(w)
	_, _ = w.Write(rep.Stack)
}

func newDebugProfileCommand(st streams) *cobra.Command {
	var (
		seconds int
		out     string
	)
	cmd := &cobra.Command{
		Use:   "profile PID|WORKER:ID",
		Short: "Write a CPU profile of a process (read it with go tool pprof)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := parseDebugTarget(args[0])
			if err != nil {
				return err
			}
			if seconds < master.MinProfileSeconds || seconds > master.MaxProfileSeconds {
				return UsageError(fmt.Errorf("--seconds %d: want %d to %d", seconds, master.MinProfileSeconds, master.MaxProfileSeconds))
			}
			q.Seconds = seconds
			// The CLI writes the file, not the child: the child may run as
			// another user (user = "nobody") who cannot write where the
			// operator asks, nor resolve a path relative to the operator's
			// directory. The temporary file, made before the profile runs,
			// fails a bad -o at once rather than after a minute, and the
			// rename leaves no partial profile behind.
			var tmp *os.File
			if out != "-" {
				dir := "."
				if out != "" {
					dir = filepath.Dir(out)
				}
				if tmp, err = os.CreateTemp(dir, ".workermand-profile-*"); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("-o: %w", err)}
				}
				defer func() {
					if tmp != nil {
						tmp.Close()
						os.Remove(tmp.Name())
					}
				}()
			}
			rep, err := askDebug(st, "debug_profile", q)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := st.out.Write(rep.Profile)
				return err
			}
			path := out
			if path == "" {
				path = fmt.Sprintf("%s-%d.pprof", st.name(), rep.PID)
			}
			if _, err := tmp.Write(rep.Profile); err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("writing the profile: %w", err)}
			}
			if err := tmp.Close(); err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("writing the profile: %w", err)}
			}
			// CreateTemp makes the file 0600; a profile is no secret to the
			// operator's group any more than a stack dump on a terminal.
			_ = os.Chmod(tmp.Name(), 0o644)
			if err := os.Rename(tmp.Name(), path); err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("-o: %w", err)}
			}
			tmp = nil
			fmt.Fprintf(st.out, "wrote a %d s CPU profile of pid %d (worker %s #%d) to %s\nread it with: go tool pprof -top %s\n",
				seconds, rep.PID, rep.Worker, rep.ID, path, path)
			return nil
		},
	}
	cmd.Flags().IntVar(&seconds, "seconds", 10, fmt.Sprintf("how long to profile, %d to %d", master.MinProfileSeconds, master.MaxProfileSeconds))
	cmd.Flags().StringVarP(&out, "output", "o", "", fmt.Sprintf("file to write (default %s-PID.pprof here; - for standard output)", st.name()))
	return cmd
}

// parseDebugTarget reads a process's pid, or worker:id for the process
// serving that slot (a reload changes the pid, not the slot).
func parseDebugTarget(arg string) (*master.DebugRequest, error) {
	if pid, err := strconv.Atoi(arg); err == nil {
		if pid <= 0 {
			return nil, UsageError(fmt.Errorf("%q: a pid is a positive number", arg))
		}
		return &master.DebugRequest{PID: pid}, nil
	}
	// The last colon: a worker's name may hold one, its id does not.
	i := strings.LastIndexByte(arg, ':')
	if i <= 0 {
		return nil, UsageError(fmt.Errorf("%q: want a pid or worker:id (as status lists them, e.g. web:0)", arg))
	}
	id, err := strconv.Atoi(arg[i+1:])
	if err != nil || id < 0 {
		return nil, UsageError(fmt.Errorf("%q: the id after the colon must be a number from 0", arg))
	}
	return &master.DebugRequest{Worker: arg[:i], ID: id}, nil
}

// askDebug sends a debug command to the running master.
func askDebug(st streams, cmd string, q *master.DebugRequest) (*master.DebugReply, error) {
	cfg, err := st.locateMaster()
	if err != nil {
		return nil, err
	}
	resp, err := commandMaster(cfg, master.Request{Cmd: cmd, Debug: q})
	if err != nil {
		return nil, err
	}
	if !resp.OK || resp.Debug == nil {
		code := resp.Code
		if code == 0 {
			code = exitFailed
		}
		msg := resp.Error
		if msg == "" {
			msg = "the master answered without a dump or profile"
		}
		return nil, &exitError{code: code, err: errors.New(msg)}
	}
	return resp.Debug, nil
}
