// Package workerman is workermand's public Go API. It mirrors the Workerman
// manual — Worker, Connection, AsyncTcpConnection, AsyncUdpConnection,
// Timer — typed the Go way, so Go programs can register handlers and build
// their own daemon binary with the same CLI as the stock one.
//
// # The loop contract
//
// Each process runs one event loop. Every callback (worker and connection
// callbacks, timers, posted functions) runs on the loop goroutine, one at a
// time, so handler code needs no locks for state it keeps per process or per
// connection. Methods are loop-only unless their doc says otherwise;
// Connection.Send, Connection.SendValue, Connection.Close,
// Connection.Destroy and EventLoop.Post are safe from any goroutine.
//
// Callbacks must not block: a slow database call in OnMessage stalls every
// connection of the process. Run blocking work with Async, which runs it on
// its own goroutine and hands the result back on the loop.
//
// Message.Data handed to OnMessage points into the loop's buffers and is
// valid only until the callback returns. Copy it to keep it. Test and race
// builds overwrite it after the callback so that mistake shows at once.
package workerman
