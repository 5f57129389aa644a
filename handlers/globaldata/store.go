package globaldata

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/workermand/workermand/phpserialize"
)

// The fixed replies, as Workerman's server writes them.
var (
	replyTrue  = []byte("b:1;")
	replyFalse = []byte("b:0;")
	replyNull  = []byte("N;")
)

// pingPayload is the keep-alive Workerman's client sends every 25 s; it
// gets no reply.
const pingPayload = "ping"

// refusal is why a request was refused: Reply is the string the peer is
// sent, serialized, before the connection closes ("bad request" or
// "bad cmd X", Workerman's words); Reason says what was wrong, for the log.
type refusal struct {
	Reply  string
	Reason string
}

func (e *refusal) Error() string { return e.Reply + ": " + e.Reason }

func badRequest(format string, args ...any) *refusal {
	return &refusal{Reply: "bad request", Reason: fmt.Sprintf(format, args...)}
}

// request is one decoded GlobalData request.
type request struct {
	Cmd string
	// Key is the array key PHP would use: an integer key and the decimal
	// string of it are the same key, as in a PHP array.
	Key string
	// Value is the value of set, add and cas as serialize() writes it.
	Value []byte
	// Step is increment's step: int64, float64, or nil when it is not a
	// number PHP could add (the request is refused only if the key exists,
	// since PHP evaluates the addition only then).
	Step any
	// MD5 is cas's digest; HasMD5 is false when the field is no string,
	// which PHP's === never matches.
	MD5    string
	HasMD5 bool
}

// decodeRequest reads a request payload (the frame's body). The payload
// "ping" is no request: callers check for it first.
func decodeRequest(p []byte) (request, error) {
	if len(p) == 0 || string(p) == "0" {
		// PHP's !$buffer: both strings are false.
		return request{}, badRequest("empty request")
	}
	f, ok := scanFlat(p)
	if !ok {
		var err error
		if f, err = scanArray(p); err != nil {
			return request{}, err
		}
	}
	return f.request()
}

// fields are the request elements the commands read; a missing one is
// nil, as PHP reads it (with a warning).
type fields struct{ cmd, key, value, step, md5 any }

// scanArray reads the request with phpserialize: any array, nested values
// included.
func scanArray(p []byte) (fields, error) {
	v, err := phpserialize.Unmarshal(p)
	if err != nil {
		if errors.Is(err, phpserialize.ErrUnsupported) {
			return fields{}, badRequest("objects and references cannot be stored: %v", err)
		}
		return fields{}, badRequest("not a serialize() value: %v", err)
	}
	a, ok := v.(*phpserialize.Array)
	if !ok {
		return fields{}, badRequest("a %s, not an array", phpserialize.TypeName(v))
	}
	var f fields
	f.cmd, _ = a.Get("cmd")
	f.key, _ = a.Get("key")
	f.value, _ = a.Get("value")
	f.step, _ = a.Get("step")
	f.md5, _ = a.Get("md5")
	return f, nil
}

func (f fields) request() (request, error) {
	if f.cmd == nil || f.key == nil {
		// PHP's isset() is false for a missing element and for null.
		return request{}, badRequest("cmd or key missing")
	}
	s, ok := f.cmd.(string)
	if !ok {
		return request{}, &refusal{Reply: "bad cmd " + phpString(f.cmd), Reason: "cmd is a " + phpserialize.TypeName(f.cmd)}
	}
	if !knownCmd[s] {
		return request{}, &refusal{Reply: "bad cmd " + s, Reason: "unknown command"}
	}
	r := request{Cmd: s}
	var err error
	if r.Key, err = arrayKey(f.key); err != nil {
		return request{}, err
	}
	switch s {
	case "set", "add", "cas":
		if r.Value, err = phpserialize.Marshal(f.value); err != nil {
			return request{}, badRequest("value: %v", err)
		}
		if s == "cas" {
			r.MD5, r.HasMD5 = f.md5.(string)
		}
	case "increment":
		r.Step = stepNumber(f.step)
	}
	return r, nil
}

var knownCmd = map[string]bool{"get": true, "set": true, "add": true, "increment": true, "cas": true, "delete": true}

// arrayKey converts a request's key as PHP converts an array offset.
func arrayKey(k any) (string, error) {
	switch x := k.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case float64:
		// PHP truncates a float offset toward zero; one out of int range
		// or not a number has no key (PHP 8 makes it 0 with a warning, a
		// collision nobody means).
		if math.IsNaN(x) || x >= 0x1p63 || x < -0x1p63 {
			return "", badRequest("key %v is no integer PHP can use as an array key", x)
		}
		return strconv.FormatInt(int64(x), 10), nil
	}
	return "", badRequest("key is a %s (PHP throws: illegal offset type)", phpserialize.TypeName(k))
}

// store is the server's data: each value as serialize() writes it, so a
// get returns the bytes PHP's serialize() gives for the value and a cas
// digest compares as Workerman's does.
type store struct {
	m map[string][]byte
	// changes counts writes, so a snapshot is taken only when something
	// changed.
	changes uint64
}

// newStore returns an empty store.
func newStore() *store { return &store{m: map[string][]byte{}} }

// Len is the number of keys.
func (s *store) Len() int { return len(s.m) }

// Do runs r and returns the reply payload; a *refusal error means the
// connection must be closed with its Reply.
func (s *store) Do(r request) ([]byte, error) {
	cur, ok := s.m[r.Key]
	// PHP's isset() is false for a null value, so a stored null is absent
	// for get, add and increment.
	present := ok && string(cur) != "N;"
	switch r.Cmd {
	case "get":
		if !present {
			return replyNull, nil
		}
		return cur, nil
	case "set":
		s.put(r.Key, r.Value)
		return replyTrue, nil
	case "add":
		if present {
			return replyFalse, nil
		}
		s.put(r.Key, r.Value)
		return replyTrue, nil
	case "increment":
		if !present {
			return replyFalse, nil
		}
		if r.Step == nil {
			// PHP throws "Unsupported operand types" here, which kills
			// Workerman's server and every value with it.
			return nil, badRequest("step is not a number")
		}
		v, err := phpserialize.Unmarshal(cur)
		if err != nil {
			return nil, fmt.Errorf("stored value of %q: %w", r.Key, err)
		}
		sum := phpAdd(numericOrZero(v), r.Step)
		b, err := phpserialize.Marshal(sum)
		if err != nil {
			return nil, fmt.Errorf("increment %q: %w", r.Key, err)
		}
		s.put(r.Key, b)
		return b, nil
	case "cas":
		if !ok {
			cur = replyNull
		}
		sum := md5.Sum(cur)
		if !r.HasMD5 || hex.EncodeToString(sum[:]) != r.MD5 {
			return replyFalse, nil
		}
		s.put(r.Key, r.Value)
		return replyTrue, nil
	case "delete":
		if ok {
			delete(s.m, r.Key)
			s.changes++
		}
		return replyTrue, nil
	}
	return nil, &refusal{Reply: "bad cmd " + r.Cmd, Reason: "unknown command"}
}

func (s *store) put(key string, v []byte) {
	s.m[key] = v
	s.changes++
}

// phpString is PHP's string conversion, for "bad cmd X".
func phpString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "1"
		}
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		b, _ := phpserialize.Marshal(x) // d:…; around PHP's own digits
		return string(b[2 : len(b)-1])
	case string:
		return x
	case *phpserialize.Array:
		return "Array"
	}
	return ""
}
