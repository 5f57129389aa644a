package protocol_test

import (
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

// Importing the package makes the built-in schemes usable in listen
// addresses, each bound to its own codec.
func TestBuiltinsRegistered(t *testing.T) {
	for name, p := range map[string]codec.Protocol{
		"tcp":   protocol.Raw,
		"text":  protocol.Text,
		"frame": protocol.Frame,
	} {
		got, ok := codec.Lookup(name)
		if !ok {
			t.Errorf("Lookup(%q) failed", name)
			continue
		}
		if got.NewCodec(nil) != p.NewCodec(nil) {
			t.Errorf("Lookup(%q) makes %T, want %T", name, got.NewCodec(nil), p.NewCodec(nil))
		}
	}
}
