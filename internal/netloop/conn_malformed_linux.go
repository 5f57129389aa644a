package netloop

// CountProtocolError counts c in the process's ProtocolErrors, for input
// the application found malformed after its codec had framed it (a message
// that does not parse as the application's requests): status shows those
// with the codec's own. Loop-only.
func (c *Conn) CountProtocolError() {
	if c.status == StatusClosing || c.status == StatusClosed {
		return // counted once per connection, as the loop's own errors
	}
	c.loop.stats.ProtocolErrors++
}
