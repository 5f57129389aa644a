package ipc

// `workermand debug`: master → child requests, answered with the same type
// and ID, Debug filled or Error set. The child answers from a goroutine of
// its own: the loop it reports on may be the thing that is stuck.
const (
	// TypeDebugStack asks for the goroutine stacks, the event loop's first.
	TypeDebugStack = "debug_stack"
	// TypeDebugProfile asks for a CPU profile over Debug.ProfileMS.
	TypeDebugProfile = "debug_profile"
)

// The bounds of a debug answer. Both travel as one message, in fragments,
// base64 in the JSON (4/3 of their size), so they stay well within what a
// message may carry (maxMessage) rather than being streamed: a CPU profile
// of a minute is a few hundred KiB of gzipped protobuf, a dump of ten
// thousand goroutines a few MiB.
const (
	MaxStackDump  = 16 << 20
	MaxCPUProfile = 32 << 20
)

// Debug is a debug request's parameters and its answer.
type Debug struct {
	// ProfileMS (request, TypeDebugProfile): how long to profile.
	ProfileMS int64 `json:"profile_ms,omitempty"`

	// LoopGoroutine (answer, TypeDebugStack) is the runtime's number of the
	// event loop's goroutine, whose stack Stack shows first; 0 when no loop
	// runs (the dump is then in the runtime's order).
	LoopGoroutine uint64 `json:"loop_goroutine,omitempty"`
	// Goroutines counts the goroutines in Stack.
	Goroutines int `json:"goroutines,omitempty"`
	// Stack is the dump in runtime.Stack's format.
	Stack []byte `json:"stack,omitempty"`
	// Truncated: the dump was cut at MaxStackDump.
	Truncated bool `json:"truncated,omitempty"`
	// Profile is the CPU profile, as pprof.StartCPUProfile writes it.
	Profile []byte `json:"profile,omitempty"`
}
