// Package sockets holds the socket helpers that the event loop and the
// master share: listening sockets with Workerman's backlog and reuse_port,
// Unix socket files (stale ones replaced, live ones refused, removed only
// while still ours) and peer credentials, and IP socket addresses as
// netip.AddrPort. The master binds the listeners
// its children inherit, so it needs these without the loop itself.
package sockets
