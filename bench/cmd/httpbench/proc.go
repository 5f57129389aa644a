package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// wrkRun is one finished wrk process.
type wrkRun struct {
	stdout string
	cpu    time.Duration // wrk's own user+system time
}

// runWrk runs wrk pinned to cpu and bounded by ctx: on expiry wrk gets
// SIGTERM, and SIGKILL 3 s later if it is still there.
func runWrk(ctx context.Context, cpu int, argv []string) (wrkRun, error) {
	cmd := runner.Pinned(ctx, cpu, argv, nil)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	var stdout bytes.Buffer
	stderr := &runner.Tail{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	var r wrkRun
	r.stdout = stdout.String()
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("wrk stopped: %w: %s", ctx.Err(), stderr)
	case err != nil:
		return r, fmt.Errorf("wrk: %w: %s %s", err, stderr, strings.TrimSpace(r.stdout))
	}
	return r, nil
}

// execOutput runs a short informational command (a version query) with a
// time bound and returns its combined output.
func execOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
