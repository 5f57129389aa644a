package ipc

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// TicketKey is one TLS session-ticket key (crypto/tls's
// Config.SetSessionTicketKeys). Whoever holds it can decrypt the sessions
// of every client that resumed with a ticket it sealed, so it travels only
// on the channel: fmt prints it redacted (a Message or Setup that reaches
// a log or an error shows no key), and only its JSON carries the bytes.
type TicketKey [32]byte

const redacted = "[redacted]"

// String keeps the key out of anything formatted with %v, %s or %x.
func (TicketKey) String() string { return redacted }

// GoString keeps the key out of %#v.
func (TicketKey) GoString() string { return redacted }

// Format covers the verbs String does not (%d, %o…), which would
// otherwise print the bytes.
func (TicketKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON writes the key as base64, a third of the size of a JSON
// array of bytes.
func (k TicketKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(k[:]))
}

// UnmarshalJSON reads what MarshalJSON wrote. Its errors never quote the
// input: it is key material.
func (k *TicketKey) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("ticket key: not a JSON string")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != len(k) {
		return fmt.Errorf("ticket key: want %d bytes in base64", len(k))
	}
	copy(k[:], raw)
	clear(raw)
	return nil
}
