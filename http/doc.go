// Package http holds the HTTP types of workermand's public API: the Request a
// worker on an http:// address receives in OnMessage (as Message.Value), the
// Response it sends back with Connection.SendValue, streaming pieces (Chunk,
// ServerSentEvent), cookies, uploaded files and the [worker.http] Options.
// It mirrors Workerman's Protocols\Http classes.
//
// A worker receives one request at a time per connection: the next pipelined
// request is read only once the response to the current one has been sent,
// so a handler may answer later, from another goroutine, and the order on the
// wire never changes. A Request and everything it returns stay valid until
// its response is sent; copy what must outlive that.
//
// The wire protocol itself (framing, keep-alive, limits) belongs to the
// server; this package needs none of it, so handlers and tests can build
// requests (ParseRequest) and responses without one, and
// workermantest.ResponseBody reads what a client would receive.
package http
