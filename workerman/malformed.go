package workerman

// CloseMalformed is Close for a peer whose message the application found
// malformed (a request it cannot parse): it sends the optional last
// message, closes c and counts it in Stats.ProtocolErrors (status's
// protocol_errors), as the loop counts input its protocol cannot frame.
// The close lingers, so a peer that sent more meanwhile still reads the
// last message instead of a reset. Loop-only.
func (c *Connection) CloseMalformed(last ...[]byte) {
	c.nc.CountProtocolError()
	c.nc.Linger()
	c.Close(last...)
}
