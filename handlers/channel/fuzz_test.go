package channel

import (
	"errors"
	"testing"

	"github.com/workermand/workermand/phpserialize"
)

// FuzzDecodeRequest: any payload decodes to a request or to an error
// wrapping errBadRequest, never a panic; what decodes is well formed, and
// the messages built from it read back as PHP arrays.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		``,
		`N;`,
		`a:2:{s:4:"type";s:9:"subscribe";s:8:"channels";a:2:{i:0;i:3;i:1;s:4:"news";}}`,
		`a:2:{s:4:"type";s:11:"unsubscribe";s:8:"channels";a:1:{i:0;s:1:"a";}}`,
		`a:3:{s:4:"type";s:7:"publish";s:8:"channels";a:1:{i:0;s:4:"news";}s:4:"data";a:1:{s:1:"k";d:0.5;}}`,
		`a:3:{s:4:"type";s:11:"publishLoop";s:8:"channels";a:1:{i:0;s:1:"j";}s:4:"data";i:1;}`,
		`a:2:{s:4:"type";s:5:"watch";s:8:"channels";a:1:{i:0;s:1:"q";}}`,
		`a:2:{s:4:"type";s:7:"unwatch";s:8:"channels";a:1:{i:0;s:1:"q";}}`,
		`a:3:{s:4:"type";s:7:"enqueue";s:8:"channels";a:1:{i:0;s:1:"q";}s:4:"data";b:1;}`,
		`a:1:{s:4:"type";s:7:"reserve";}`,
		`a:2:{s:4:"type";s:4:"auth";s:5:"token";s:3:"abc";}`,
		`a:2:{s:4:"type";s:7:"publish";s:8:"channels";a:1:{i:0;s:1:"x";}}`,
		`a:1:{s:4:"type";s:7:"explode";}`,
		`a:3:{s:4:"type";s:7:"publish";s:8:"channels";a:0:{}s:4:"data";O:8:"stdClass":0:{}}`,
		`a:2:{s:4:"type";s:9:"subscribe";s:8:"channels";a:1:{i:0;a:0:{}}}`,
		`a:1:{s:4:"type";s:7:"publish"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := decodeRequest(payload)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("error %v does not wrap errBadRequest", err)
			}
			return
		}
		k, ok := kinds[r.kind]
		if !ok {
			t.Fatalf("decoded an unknown type %q", r.kind)
		}
		if k.data != (r.data != nil) {
			t.Fatalf("%s: data %q", r.kind, r.data)
		}
		for _, n := range r.channels {
			m := appendMessage(nil, "event", n.raw, r.data)
			if r.data == nil {
				m = appendMessage(nil, "event", n.raw, []byte("N;"))
			}
			v, err := phpserialize.Unmarshal(m)
			if err != nil {
				t.Fatalf("event %q does not read back: %v", m, err)
			}
			ch, _ := v.(*phpserialize.Array).Get("channel")
			if got, _ := channelName(ch); got.key != n.key {
				t.Fatalf("event channel %v, want %q", ch, n.key)
			}
		}
	})
}
