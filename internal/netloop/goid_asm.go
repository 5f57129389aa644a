//go:build amd64 || arm64

package netloop

// currentG identifies the calling goroutine by the address of its runtime
// descriptor: stable for the goroutine's life, and distinct from every other
// live goroutine's. It costs a function call, where gettid(2) costs a
// syscall on every Send.
func currentG() uintptr

// lockThread: goroutine identity needs no thread of its own here, and a
// locked goroutine pays a thread hand-off each time the scheduler moves it.
const lockThread = false
