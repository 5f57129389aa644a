//go:build !amd64 && !arm64

package netloop

import "golang.org/x/sys/unix"

// currentG falls back to the thread id: the loop goroutine is locked to its
// thread, so no other goroutine runs there while the loop lives.
func currentG() uintptr { return uintptr(unix.Gettid()) }

// lockThread keeps the loop goroutine on one thread, which makes the thread
// id a goroutine identity.
const lockThread = true
