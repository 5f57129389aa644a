package channel

import (
	"testing"

	"github.com/workermand/workermand/phpserialize"
)

// FuzzDecodeMessage: whatever a server sends, the frame client reads an
// event or a queue item or returns an error, never panics; what it reads
// has a name PHP would have sent.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`a:3:{s:4:"type";s:5:"event";s:7:"channel";s:4:"news";s:4:"data";a:1:{s:1:"k";d:0.5;}}`,
		`a:3:{s:4:"type";s:5:"event";s:7:"channel";i:7;s:4:"data";N;}`,
		`a:3:{s:4:"type";s:5:"queue";s:7:"channel";s:1:"q";s:4:"data";i:42;}`,
		`a:1:{s:4:"type";s:5:"other";}`,
		`a:2:{s:4:"type";s:5:"event";s:7:"channel";a:0:{}}`,
		`s:5:"hello";`,
		`not serialize()`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		kind, name, data, err := decodeMessage(payload)
		if err != nil {
			return
		}
		if kind != "event" && kind != "queue" {
			t.Fatalf("kind %q", kind)
		}
		if _, err := phpserialize.Marshal(data); err != nil {
			t.Fatalf("the data of %q does not write back: %v", payload, err)
		}
		_ = name
	})
}

// appendOp writes what phpserialize reads back as Workerman's client's
// array, for every kind.
func TestAppendOp(t *testing.T) {
	for k := opSubscribe; k <= opReserve; k++ {
		o := op{kind: k, names: []string{"a", "7"}}
		if k == opPublish || k == opPublishLoop || k == opEnqueue {
			o.data = []byte(`a:1:{i:0;b:1;}`)
		}
		if k == opReserve {
			o.names = nil
		}
		v, err := phpserialize.Unmarshal(appendOp(nil, o))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		a := v.(*phpserialize.Array)
		if typ, _ := a.Get("type"); typ != k.String() {
			t.Errorf("%s: type %v", k, typ)
		}
		_, hasData := a.Get("data")
		_, hasChannels := a.Get("channels")
		if hasData != (o.data != nil) || hasChannels != (k != opReserve) {
			t.Errorf("%s: %v", k, a.Map())
		}
	}
}
