package cliapp

import (
	"time"

	"github.com/workermand/workermand/internal/tlsconfig"
)

// checkTLS reads and checks a TLS worker's certificates
// (config.Hooks.TLS), so that check, start and reload refuse a missing
// file or a key that does not match its certificate at its key's line,
// before any child would fail on it: a reload with a broken key fails and
// the running children keep serving the certificates they loaded.
func checkTLS(s tlsconfig.Settings) []tlsconfig.Problem {
	_, probs, _ := tlsconfig.Load(s, time.Now())
	return probs
}
