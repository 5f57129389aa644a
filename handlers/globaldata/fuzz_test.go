package globaldata

import (
	"errors"
	"strings"
	"testing"

	"github.com/workermand/workermand/phpserialize"
)

// FuzzDecodeRequest feeds arbitrary payloads to the request decoder and
// the store: nothing panics, a refusal carries one of Workerman's two
// replies, and every reply is a serialize() value a PHP client can read.
//
//	go test -run '^$' -fuzz FuzzDecodeRequest ./handlers/globaldata/
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"k";}`,
		`a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:1:"k";s:5:"value";a:1:{i:0;d:0.5;}}`,
		`a:3:{s:3:"cmd";s:3:"add";s:3:"key";i:5;s:5:"value";b:1;}`,
		`a:3:{s:3:"cmd";s:9:"increment";s:3:"key";s:1:"n";s:4:"step";s:3:"1e3";}`,
		`a:4:{s:3:"cmd";s:3:"cas";s:3:"md5";s:32:"a3f3a4b1bd0d5b8e3a1a4d52a2d3c5f0";s:3:"key";s:1:"k";s:5:"value";N;}`,
		`a:2:{s:3:"cmd";s:6:"delete";s:3:"key";d:1.5;}`,
		`a:2:{s:3:"cmd";i:1;s:3:"key";s:0:"";}`,
		`a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:1:"o";s:5:"value";O:8:"stdClass":0:{}}`,
		`a:3:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"k";s:3:"cmd";s:3:"set";}`,
		`a:3:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"k";s:1:"7";i:1;}`,
		`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"k";}x`,
		"ping", "", "N;", "a:0:{}", "a:1:{s:3:\"cmd\";",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if flat, ok := scanFlat(p); ok {
			full, err := scanArray(p)
			if err != nil {
				t.Fatalf("%q: the flat scan read it, phpserialize refuses it: %v", p, err)
			}
			for i, pair := range [][2]any{{flat.cmd, full.cmd}, {flat.key, full.key}, {flat.value, full.value}, {flat.step, full.step}, {flat.md5, full.md5}} {
				a, _ := phpserialize.Marshal(pair[0])
				b, _ := phpserialize.Marshal(pair[1])
				if string(a) != string(b) {
					t.Fatalf("%q: field %d: flat scan %s, phpserialize %s", p, i, a, b)
				}
			}
		}
		s := newStore()
		for _, k := range []string{"k", "n", "5", "o"} {
			s.m[k] = []byte(`s:2:"12";`)
		}
		r, err := decodeRequest(p)
		var reply []byte
		if err == nil {
			reply, err = s.Do(r)
		}
		if err != nil {
			var bad *refusal
			if !errors.As(err, &bad) {
				t.Fatalf("%q: %v is no *refusal", p, err)
			}
			if bad.Reply != "bad request" && !strings.HasPrefix(bad.Reply, "bad cmd ") {
				t.Fatalf("%q: reply %q", p, bad.Reply)
			}
			return
		}
		if _, err := phpserialize.Unmarshal(reply); err != nil {
			t.Fatalf("%q: reply %q does not unserialize: %v", p, reply, err)
		}
		if doc := s.Snapshot(); newStore().LoadSnapshot(doc) != nil {
			t.Fatalf("%q: snapshot %q does not load", p, doc)
		}
	})
}
