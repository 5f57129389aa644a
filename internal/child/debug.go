package child

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/workermand/workermand/internal/ipc"
)

// LoopReporter is implemented by a Controller that runs an event loop: it
// names the loop's goroutine (the runtime's number, 0 when no loop runs),
// so that `workermand debug stack` shows that goroutine first. Safe from
// any goroutine.
type LoopReporter interface {
	LoopGoroutine() uint64
}

// Bounds of `workermand debug profile`, which the master checks as well.
const (
	MinProfile = time.Second
	MaxProfile = time.Minute
)

// errProfiling refuses a second CPU profile while one runs: the runtime
// has one CPU profiler per process.
var errProfiling = errors.New("a CPU profile of this process is already being taken; wait for it to end")

// profiling is set while a CPU profile runs (process-wide, as the
// profiler is).
var profiling atomic.Bool

// debug answers a debug request. It runs on a goroutine of its own, never
// on the event loop, which may be the goroutine that is stuck.
func (s *Session) debug(c Controller, m *ipc.Message) {
	reply := &ipc.Message{Type: m.Type, ID: m.ID}
	var (
		d   *ipc.Debug
		err error
	)
	switch m.Type {
	case ipc.TypeDebugStack:
		var loop uint64
		if lr, ok := c.(LoopReporter); ok {
			loop = lr.LoopGoroutine()
		}
		d = stackDump(loop, ipc.MaxStackDump)
	case ipc.TypeDebugProfile:
		var ms int64
		if m.Debug != nil {
			ms = m.Debug.ProfileMS
		}
		dur := time.Duration(ms) * time.Millisecond
		if dur < MinProfile || dur > MaxProfile {
			err = fmt.Errorf("profile duration %s is outside %s..%s", dur, MinProfile, MaxProfile)
			break
		}
		d, err = cpuProfile(dur, ipc.MaxCPUProfile)
	}
	if err != nil {
		reply.Error = err.Error()
	} else {
		reply.Debug = d
	}
	if err := s.ch.Send(reply); err != nil && m.Type == ipc.TypeDebugProfile {
		// The only way to learn why a profile never arrived: the master
		// reports a timeout, the child's stderr goes to its stdout_file.
		fmt.Fprintf(os.Stderr, "workermand child: sending the debug answer: %v\n", err)
	}
}

// stackDump is every goroutine's stack, the loop's (goroutine loop) first
// and the dumping goroutine's last, cut at limit bytes.
func stackDump(loop uint64, limit int) *ipc.Debug {
	buf := make([]byte, 64<<10)
	var n int
	truncated := false
	for {
		n = runtime.Stack(buf, true)
		if n < len(buf) {
			break
		}
		if len(buf) >= limit {
			truncated = true
			break
		}
		buf = make([]byte, min(2*len(buf), limit))
	}
	dump, count := loopFirst(buf[:n], loop)
	return &ipc.Debug{LoopGoroutine: loop, Goroutines: count, Stack: dump, Truncated: truncated}
}

// loopFirst reorders a runtime.Stack(all) dump: the goroutine numbered
// loop first, so that what a stuck loop runs is the first thing read;
// then the others in the runtime's order, except the first one, which is
// the dumping goroutine itself (runtime.Stack puts the caller first), and
// goes last as the least interesting. It returns the dump and how many
// goroutines it holds.
func loopFirst(dump []byte, loop uint64) ([]byte, int) {
	blocks := bytes.Split(bytes.TrimRight(dump, "\n"), []byte("\n\n"))
	isLoop := func(b []byte) bool { return loop != 0 && goroutineNumber(b) == loop }
	out := make([][]byte, 0, len(blocks))
	for _, b := range blocks {
		if isLoop(b) {
			out = append(out, b)
		}
	}
	for _, b := range blocks[1:] {
		if !isLoop(b) {
			out = append(out, b)
		}
	}
	if !isLoop(blocks[0]) {
		out = append(out, blocks[0])
	}
	return append(bytes.Join(out, []byte("\n\n")), '\n'), len(blocks)
}

// goroutineNumber reads N from a block's "goroutine N [state]:" header.
func goroutineNumber(block []byte) uint64 {
	rest, ok := bytes.CutPrefix(block, []byte("goroutine "))
	if !ok {
		return 0
	}
	end := bytes.IndexByte(rest, ' ')
	if end < 0 {
		return 0
	}
	n, _ := strconv.ParseUint(string(rest[:end]), 10, 64)
	return n
}

// cpuProfile profiles the whole process for d, as `go tool pprof` reads
// it; the answer must stay within limit bytes.
func cpuProfile(d time.Duration, limit int) (*ipc.Debug, error) {
	if !profiling.CompareAndSwap(false, true) {
		return nil, errProfiling
	}
	defer profiling.Store(false)
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		// Someone else's profiler (a handler's own StartCPUProfile).
		return nil, fmt.Errorf("start the CPU profile: %w", err)
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	if buf.Len() > limit {
		return nil, fmt.Errorf("the CPU profile is %d bytes, more than the %d a debug answer may carry", buf.Len(), limit)
	}
	return &ipc.Debug{Profile: buf.Bytes()}, nil
}
