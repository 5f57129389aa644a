// Package childentry is how the command line reaches a child's runtime
// without package workerman exporting it: a process the master started
// must run the workers it is handed instead of the command line, and only
// cli does that switch. Package workerman sets Run when it is initialised;
// cli imports workerman (for its handlers), so Run is set before main.
package childentry

import (
	"os"

	"github.com/workermand/workermand/internal/ipc"
)

// Run runs the worker the master hands this process and returns the
// process exit code. Set by package workerman.
var Run func() int

// IsChild reports whether this process was started by a workermand master
// as one of its children.
func IsChild() bool { return os.Getenv(ipc.ChildEnvMarker) != "" }
