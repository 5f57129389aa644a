package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Store keeps encoded sessions by id. Its methods run on goroutines of
// their own, never on the event loop, and may be called concurrently. The
// ids it gets are always valid (ValidID).
type Store interface {
	// Load returns the data saved under id, or nil and no error when there
	// is none or it expired.
	Load(ctx context.Context, id string) ([]byte, error)
	// Save stores data under id, to expire lifetime from now.
	Save(ctx context.Context, id string, data []byte, lifetime time.Duration) error
	// Delete removes id; deleting an absent id is not an error.
	Delete(ctx context.Context, id string) error
	// GC removes expired sessions (a no-op for stores that expire keys
	// themselves). lifetime is the Manager's current Lifetime.
	GC(ctx context.Context, lifetime time.Duration) error
}

// idBytes is the entropy of a new id: far beyond guessing, and the hex form
// (64 characters) is well within Workerman's 256.
const idBytes = 32

// NewID returns a fresh random session id.
func NewID() string {
	var b [idBytes]byte
	// crypto/rand.Read never fails on Linux (getrandom), and it panics
	// rather than return predictable bytes.
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether id has the form Workerman accepts:
// [a-zA-Z0-9,-]{16,256}. Stores rely on it: such an id holds no path
// separator or dot and is safe in a file name or a key.
func ValidID(id string) bool {
	if len(id) < 16 || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ',', c == '-':
		default:
			return false
		}
	}
	return true
}

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("session: invalid id %.40q", id)
	}
	return nil
}
