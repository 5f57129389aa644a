//go:build race || wmdebug

package netloop

const poisonMessages = true
