// Package netloop is the event loop a workermand child runs: one epoll
// reactor per process, in the manner of one Workerman process.
//
// A Loop owns an epoll instance, the listeners and connections registered on
// it, a heap of timers and a queue of tasks posted from other goroutines.
// Every callback (Handler methods, timers, posted tasks) runs on the goroutine
// that called Run. Conn.Send tells a call on the loop from a call on another
// goroutine by comparing goroutine identities (the runtime's g pointer, read
// in a few instructions; gettid(2) on the loop's locked thread on other
// architectures).
//
// Methods are loop-only unless their doc says otherwise. Loop.Post, Conn.Send,
// Conn.SendValue, Conn.Close and Conn.Destroy are safe from any goroutine:
// off the loop they post a task and return at once.
//
// I/O is level-triggered. Reads go through one shared buffer per loop; a
// connection keeps only the bytes of an incomplete packet. Output produced
// while a connection's input is being processed is corked and written with
// one write when processing ends; output the socket cannot take at once is
// kept in pooled chunks and written with writev when EPOLLOUT reports room,
// which is armed only while such a backlog exists. File regions
// (Conn.WriteFile) sit in the same backlog between the chunks and go out with
// sendfile(2), in order.
package netloop
