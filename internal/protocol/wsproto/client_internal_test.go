package wsproto

import (
	"errors"
	"strings"
	"testing"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
)

var goodHeads = []string{
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	"HTTP/1.1 101\r\nupgrade:websocket\r\n\r\n",
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
}

var badHeads = []string{
	"HTTP/1.0 101 Switching Protocols\r\n\r\n",
	"HTTP/1.1 1010 x\r\n\r\n",
	"HTTP/1.1 10x ok\r\n\r\n",
	"HTTP/1.1 099 low\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\n\r\n",
	"HTTP/1.1 101 ok\r\nUpgrade websocket\r\n\r\n",
	"HTTP/1.1 101 ok\r\nUp grade: websocket\r\n\r\n",
	"HTTP/1.1 101 ok\r\nUpgrade: web\nsocket\r\n\r\n",
	"HTTP/1.1 101 ok\r\nUpgrade: websocket\r\n folded\r\n\r\n",
	"HTTP/1.1 101 ok\r\n\r\nX: after the end\r\n\r\n",
	"HTTP/1.1 101 ok\r\nUpgrade: websocket\r\n",
	"HTTP/1.1 101 ok\x00\r\n\r\n",
}

func TestParseResponseHead(t *testing.T) {
	r, err := ParseResponseHead([]byte(goodHeads[0]))
	if err != nil || r.Status != 101 || r.Reason != "Switching Protocols" || len(r.Fields) != 3 || r.Fields[2] != (http.Field{Name: "Sec-WebSocket-Accept", Value: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}) {
		t.Fatalf("ParseResponseHead = %+v, %v", r, err)
	}
	if r, err := ParseResponseHead([]byte(goodHeads[3])); err != nil || r.Fields[1].Value != "v" || r.Fields[0].Value != "" {
		t.Fatalf("OWS around values is trimmed: %+v, %v", r, err)
	}
	for _, h := range goodHeads {
		if _, err := ParseResponseHead([]byte(h)); err != nil {
			t.Errorf("ParseResponseHead(%q): %v", h, err)
		}
	}
	for _, h := range badHeads {
		if r, err := ParseResponseHead([]byte(h)); !errors.Is(err, ErrResponseSyntax) {
			t.Errorf("ParseResponseHead(%q) = %+v, %v; want ErrResponseSyntax", h, r, err)
		}
	}
}

func FuzzParseResponseHead(f *testing.F) {
	for _, h := range append(append([]string(nil), goodHeads...), badHeads...) {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		r, err := ParseResponseHead(head)
		if err != nil {
			if !errors.Is(err, ErrResponseSyntax) {
				t.Fatalf("error %v does not wrap ErrResponseSyntax", err)
			}
			return
		}
		if r.Status < 100 || r.Status > 999 {
			t.Fatalf("status %d", r.Status)
		}
		// Whatever parsed cannot smuggle a line break into a value the
		// handshake check reads.
		for _, f := range r.Fields {
			if !http.ValidFieldName(f.Name) || strings.ContainsAny(f.Value, "\r\n") {
				t.Fatalf("field %q: %q", f.Name, f.Value)
			}
		}
	})
}

func TestUpgradeRequestRefusesInjection(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	b, err := appendUpgradeRequest(nil, websocket.ClientOptions{Path: "/a?b=1", Header: http.Header{{Name: "Origin", Value: "https://x"}}, Subprotocols: []string{"a", "b"}}, "127.0.0.1:80", key)
	want := "GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\nOrigin: https://x\r\n\r\n"
	if err != nil || string(b) != want {
		t.Fatalf("request %q, %v\nwant %q", b, err, want)
	}
	for _, o := range []websocket.ClientOptions{
		{Path: "/a b"},
		{Path: "/a\r\nX: y"},
		{Path: "a"},
		{Host: "h\r\nX: y"},
		{Header: http.Header{{Name: "X", Value: "v\r\nY: z"}}},
		{Header: http.Header{{Name: "X Y", Value: "v"}}},
		{Subprotocols: []string{"a,b"}},
	} {
		if b, err := appendUpgradeRequest(nil, o, "127.0.0.1:80", key); err == nil {
			t.Errorf("options %+v gave request %q", o, b)
		}
	}
}

// BenchmarkMaskKey measures drawing a masking key from crypto/rand, the
// per-frame price of unpredictable keys.
func BenchmarkMaskKey(b *testing.B) {
	for b.Loop() {
		_ = maskKey()
	}
}

// BenchmarkClientFrame64 is a whole 64-byte client frame: key, header,
// masked payload.
func BenchmarkClientFrame64(b *testing.B) {
	c := &clientConn{endpoint: endpoint{role: roleClient, state: stOpen}}
	payload := make([]byte, 64)
	var dst []byte
	for b.Loop() {
		dst, _ = c.frame(dst[:0], wsframe.Binary, payload)
	}
}
