package channel

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/workermand/workermand/phpserialize"
)

// name is a channel or queue name as a request carries it: PHP sends the
// names its array keys would hold, strings and integers (an event named
// after a worker id is an integer). key is the name as a key of PHP's
// arrays, where 1 and "1" are one key; raw is what events echo back in
// their channel field, as Workerman sends the publisher's own value.
type name struct {
	key string
	raw any
}

// request is one decoded frame of a client.
type request struct {
	kind     string
	channels []name
	// data is the serialize()d data of publish, publishLoop and enqueue:
	// re-written from the decoded value, which phpserialize keeps
	// byte-for-byte (ordered arrays, PHP's float format).
	data  []byte
	token string
}

// errBadRequest is wrapped by every decoding error.
var errBadRequest = errors.New("bad request")

// request types and whether they carry channels and data.
var kinds = map[string]struct{ channels, data bool }{
	"subscribe":   {channels: true},
	"unsubscribe": {channels: true},
	"publish":     {channels: true, data: true},
	"publishLoop": {channels: true, data: true},
	"watch":       {channels: true},
	"unwatch":     {channels: true},
	"enqueue":     {channels: true, data: true},
	"reserve":     {},
	"auth":        {},
}

// decodeRequest reads a non-empty payload: serialize() of an array with a
// type and what the type needs. Anything else is an error wrapping
// errBadRequest: Workerman's server would hit a PHP error or ignore it,
// ours closes the connection.
func decodeRequest(payload []byte) (request, error) {
	v, err := phpserialize.Unmarshal(payload)
	if err != nil {
		return request{}, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	a, ok := v.(*phpserialize.Array)
	if !ok {
		return request{}, fmt.Errorf("%w: a %s, not an array", errBadRequest, phpserialize.TypeName(v))
	}
	t, _ := a.Get("type")
	kind, ok := t.(string)
	if !ok {
		return request{}, fmt.Errorf("%w: no string type", errBadRequest)
	}
	k, ok := kinds[kind]
	if !ok {
		return request{}, fmt.Errorf("%w: unknown type %.40q", errBadRequest, kind)
	}
	r := request{kind: kind}
	if kind == "auth" {
		tok, _ := a.Get("token")
		s, ok := tok.(string)
		if !ok {
			return request{}, fmt.Errorf("%w: auth without a string token", errBadRequest)
		}
		r.token = s
		return r, nil
	}
	if k.channels {
		cv, _ := a.Get("channels")
		ca, ok := cv.(*phpserialize.Array)
		if !ok {
			return request{}, fmt.Errorf("%w: %s: channels is a %s, not an array", errBadRequest, kind, phpserialize.TypeName(cv))
		}
		r.channels = make([]name, 0, ca.Len())
		for _, c := range ca.All() {
			n, ok := channelName(c)
			if !ok {
				return request{}, fmt.Errorf("%w: %s: a channel name is a %s", errBadRequest, kind, phpserialize.TypeName(c))
			}
			r.channels = append(r.channels, n)
		}
	}
	if k.data {
		// A missing data is null, as PHP reads $data['data'].
		d, _ := a.Get("data")
		if r.data, err = phpserialize.Marshal(d); err != nil {
			return request{}, fmt.Errorf("%w: %s: data: %w", errBadRequest, kind, err)
		}
	}
	return r, nil
}

func channelName(v any) (name, bool) {
	switch n := v.(type) {
	case string:
		// An integer key of PHP is its decimal string here, so "1" and 1
		// are one channel, as in PHP, and "01" another.
		return name{key: n, raw: n}, true
	case int64:
		return name{key: strconv.FormatInt(n, 10), raw: n}, true
	}
	return name{}, false
}

// appendMessage appends serialize(['type'=>kind,'channel'=>channel,
// 'data'=>data]) with data already serialized: the event and queue
// messages of the server.
func appendMessage(dst []byte, kind string, channel any, data []byte) []byte {
	dst = append(dst, "a:3:{s:4:\"type\";"...)
	dst, _ = phpserialize.Append(dst, kind)
	dst = append(dst, "s:7:\"channel\";"...)
	dst, _ = phpserialize.Append(dst, channel)
	dst = append(dst, "s:4:\"data\";"...)
	dst = append(dst, data...)
	return append(dst, '}')
}
