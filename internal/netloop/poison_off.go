//go:build !race && !wmdebug

package netloop

// poisonMessages overwrites message bytes after OnMessage returns, so code
// that keeps Message.Data past its callback reads garbage at once instead of
// data that changes later. It is on in race and wmdebug builds (tests).
const poisonMessages = false
