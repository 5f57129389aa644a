package main

import (
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// newDaemon writes a config with one text echo worker of count processes
// on a free loopback port, logging into its dir. Nothing is started yet.
func newDaemon(bin string, count int, reusePort bool) (*runner.Daemon, error) {
	return runner.NewDaemon(bin, "daemonbench", runner.DaemonConfig{
		Count: count, ReusePort: reusePort, LogFiles: true, StopTimeout: "2s"})
}

// reload runs `reload` (`reload -g` if graceful) and returns how long it took.
func reload(d *runner.Daemon, graceful bool) (time.Duration, error) {
	args := []string{"reload"}
	if graceful {
		args = append(args, "-g")
	}
	t0 := time.Now()
	_, err := d.CLI(30*time.Second, args...)
	return time.Since(t0), err
}
