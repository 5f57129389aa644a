// Package linuxonly stops a build for any system but Linux with one error
// that says why. The packages that use Linux interfaces (epoll, eventfd,
// SOCK_SEQPACKET with SOCK_CLOEXEC, systemd's notify socket) import it, so
// the go command reports this package and skips compiling theirs, which
// would otherwise bury the reason under undefined names from x/sys/unix.
package linuxonly
