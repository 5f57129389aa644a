package workerman

import "github.com/workermand/workermand/internal/child"

var _ child.LoopReporter = (*childRuntime)(nil)

// LoopGoroutine names the goroutine of the process's event loop, which
// runs every callback, so that `workermand debug stack` shows what a busy
// process's loop is doing first.
func (r *childRuntime) LoopGoroutine() uint64 { return r.p.loop.l.GoroutineID() }
