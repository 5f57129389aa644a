//go:build race || wmdebug

package httpproto

// recycleBodies is off in race and wmdebug builds: their loop overwrites a
// delivered message's bytes after its callback returns, which may be after
// a synchronous answer gave the body's buffer back; recycled, the buffer
// could already hold another connection's body.
const recycleBodies = false
