package globaldata

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/workermand/workermand/phpserialize"
)

// Errors of the clients; compare with errors.Is.
var (
	// ErrNotFound: Increment on a key that holds no value (or null).
	ErrNotFound = errors.New("globaldata: no such key")
	// ErrTimeout: no reply within the client's Timeout.
	ErrTimeout = errors.New("globaldata: request timed out")
	// ErrConnectionLost: the connection closed with the request sent and
	// unanswered; whether the server ran it is unknown.
	ErrConnectionLost = errors.New("globaldata: connection lost")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("globaldata: client closed")
	// ErrBadReply: the server's reply did not fit the command.
	ErrBadReply = errors.New("globaldata: unexpected reply")
)

// Defaults, Workerman's: its client's 5 s socket timeout and 25 s ping.
const (
	DefaultTimeout           = 5 * time.Second
	DefaultPingInterval      = 25 * time.Second
	DefaultReconnectInterval = time.Second
)

// shard picks the server of key as Workerman's client does:
// abs(crc32(key)) % n. PHP's crc32() is the IEEE CRC, non-negative on
// 64-bit PHP, so the abs() changes nothing there.
func shard(key string, n int) int {
	return int(crc32.ChecksumIEEE([]byte(key)) % uint32(n))
}

// op is one command: its request payload and how its reply reads.
type op struct {
	key     string
	payload []byte
	parse   func(reply []byte) (any, error)
}

// newOp builds the request serialize(['cmd' => cmd, 'key' => key, …]),
// with the fields in the order Workerman's client writes them.
func newOp(cmd, key string, parse func([]byte) (any, error), fields ...any) (op, error) {
	a := &phpserialize.Array{}
	a.Set("cmd", cmd)
	if cmd == "cas" {
		a.Set("md5", fields[1])
		fields = fields[2:]
	}
	a.Set("key", key)
	for i := 0; i+1 < len(fields); i += 2 {
		a.Set(fields[i], fields[i+1])
	}
	p, err := phpserialize.Marshal(a)
	if err != nil {
		return op{}, fmt.Errorf("globaldata: %s %q: %w", cmd, key, err)
	}
	return op{key: key, payload: p, parse: parse}, nil
}

func getOp(key string) (op, error) { return newOp("get", key, parseValue) }

func setOp(key string, value any) (op, error) {
	return newOp("set", key, parseTrue, "value", value)
}

func addOp(key string, value any) (op, error) {
	return newOp("add", key, parseBool, "value", value)
}

func incrementOp(key string, step int64) (op, error) {
	return newOp("increment", key, parseNumber, "step", step)
}

// casOp compares md5(serialize(old)) with the server's digest of its
// value: phpserialize writes what PHP's serialize() writes, and a value
// read with Get marshals back to the same bytes, so a Get then Cas works
// as in PHP.
func casOp(key string, old, new any) (op, error) {
	b, err := phpserialize.Marshal(old)
	if err != nil {
		return op{}, fmt.Errorf("globaldata: cas %q: old value: %w", key, err)
	}
	sum := md5.Sum(b)
	return newOp("cas", key, parseBool, "md5", hex.EncodeToString(sum[:]), "value", new)
}

func deleteOp(key string) (op, error) { return newOp("delete", key, parseTrue) }

func parseValue(reply []byte) (any, error) {
	v, err := phpserialize.Unmarshal(reply)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return v, nil
}

func parseBool(reply []byte) (any, error) {
	switch string(reply) {
	case "b:1;":
		return true, nil
	case "b:0;":
		return false, nil
	}
	return nil, badReply(reply)
}

func parseTrue(reply []byte) (any, error) {
	if string(reply) != "b:1;" {
		return nil, badReply(reply)
	}
	return nil, nil
}

func parseNumber(reply []byte) (any, error) {
	if string(reply) == "b:0;" {
		return nil, ErrNotFound
	}
	v, err := parseValue(reply)
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case int64, float64:
		return v, nil
	}
	return nil, badReply(reply)
}

func badReply(reply []byte) error {
	const max = 64
	s := string(reply)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Errorf("%w %q", ErrBadReply, s)
}

// serverAddr splits a server address as the clients take it:
// "host:port" as Workerman's client, "tcp://" or "frame://host:port", or
// a Unix socket as "unix:///path".
func serverAddr(addr string) (network, address string) {
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		return "unix", p
	}
	for _, scheme := range []string{"frame://", "tcp://"} {
		if rest, ok := strings.CutPrefix(addr, scheme); ok {
			return "tcp", rest
		}
	}
	return "tcp", addr
}
