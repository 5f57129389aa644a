package main

import (
	"context"
	"os/exec"
	"time"
)

// execOutput runs a short informational command (a version query) with a
// time bound and returns its combined output.
func execOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
