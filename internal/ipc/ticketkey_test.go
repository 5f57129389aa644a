package ipc

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// Ticket keys arrive whole on the other end, in the setup and in a
// rotation, and never show in what fmt makes of a message.
func TestTicketKeysCrossTheChannelAndPrintRedacted(t *testing.T) {
	a, b := pair(t)
	var k1, k2 TicketKey
	for i := range k1 {
		k1[i], k2[i] = byte(i), byte(0xff-i)
	}
	if err := a.Send(&Message{Type: TypeTicketKeys, TicketKeys: []TicketKey{k1, k2}}); err != nil {
		t.Fatal(err)
	}
	m, _ := recv(t, b)
	if m.Type != TypeTicketKeys || len(m.TicketKeys) != 2 || m.TicketKeys[0] != k1 || m.TicketKeys[1] != k2 {
		t.Fatalf("received %d keys, type %q, equal: %v", len(m.TicketKeys), m.Type, len(m.TicketKeys) == 2 && m.TicketKeys[0] == k1)
	}
	if err := a.Send(&Message{Type: TypeSetup, Setup: &Setup{Worker: "w", TicketKeys: []TicketKey{k2}}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := recv(t, b); m.Setup == nil || len(m.Setup.TicketKeys) != 1 || m.Setup.TicketKeys[0] != k2 {
		t.Fatal("the setup's key did not arrive")
	}

	// What a log line or an error could contain.
	hexKey := fmt.Sprintf("%x", [32]byte(k1))
	b64Key := base64.StdEncoding.EncodeToString(k1[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{k1, &Message{Type: TypeTicketKeys, TicketKeys: []TicketKey{k1}}, Setup{TicketKeys: []TicketKey{k1}}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, hexKey) || strings.Contains(strings.ToLower(out), hexKey) || strings.Contains(out, b64Key) ||
				strings.Contains(out, "1 2 3 4 5") || strings.Contains(out, "0x1, 0x2") || !strings.Contains(out, redacted) {
				t.Errorf("fmt %s of %T shows the key: %s", verb, v, out)
			}
		}
	}
}

// A malformed key is refused without echoing it.
func TestTicketKeyRejectsBadInput(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 31))
	var k TicketKey
	for _, in := range []string{`"` + secret + `"`, `"not base64!"`, `[1,2,3]`} {
		err := k.UnmarshalJSON([]byte(in))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %v", in, err)
		}
	}
}
