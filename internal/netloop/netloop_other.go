//go:build !linux

package netloop

// The event loop is built on epoll; other systems compile but cannot run it.
