// Package master is the daemon's supervisor. One goroutine owns all its
// state and selects over signals, child exits, child messages, control
// requests and timers, so no lock guards the slot table.
//
// The master binds every listening socket itself (ports below 1024 work and
// children may run as another user), then re-executes its binary once per
// worker slot and hands each child its socket over a SOCK_SEQPACKET channel
// (package ipc). It restarts crashed children into their slot, backing off
// when a slot crash-loops; answers status and connections by asking every
// child over its channel; and reloads slot by slot, starting the new child
// before retiring the old one, so a listener always has a process accepting.
package master
