package workerman

import (
	"errors"
	"fmt"
	"testing"

	"github.com/workermand/workermand/internal/netloop"
)

// The public constants are the loop's values under their own names: a
// connection's status and a send's result are converted by a cast, so a
// value out of step would report a closed connection as closing.
func TestPublicConstantsMatchTheLoop(t *testing.T) {
	statuses := []struct {
		pub  Status
		loop netloop.Status
	}{
		{StatusInitial, netloop.StatusInitial}, {StatusConnecting, netloop.StatusConnecting},
		{StatusEstablished, netloop.StatusEstablished}, {StatusClosing, netloop.StatusClosing},
		{StatusClosed, netloop.StatusClosed},
	}
	for _, s := range statuses {
		if Status(s.loop) != s.pub || s.pub.String() != s.loop.String() {
			t.Errorf("status %s is %d here, %d (%s) in the loop", s.pub, s.pub, s.loop, s.loop)
		}
	}
	results := []struct {
		pub  SendResult
		loop netloop.SendResult
	}{{Sent, netloop.Sent}, {Queued, netloop.Queued}, {Dropped, netloop.Dropped}, {Posted, netloop.Posted}}
	for _, r := range results {
		if SendResult(r.loop) != r.pub || r.pub.String() != r.loop.String() {
			t.Errorf("send result %s is %d here, %d (%s) in the loop", r.pub, r.pub, r.loop, r.loop)
		}
	}
	if ConnectFail != ErrorCode(netloop.ConnectFail) || SendFail != ErrorCode(netloop.SendFail) {
		t.Errorf("error codes %d, %d here; %d, %d in the loop", ConnectFail, SendFail, netloop.ConnectFail, netloop.SendFail)
	}
}

func TestLoopErrorsHaveTheirPublicIdentity(t *testing.T) {
	if DefaultMaxSendBufferSize != netloop.DefaultMaxSendBuffer {
		t.Errorf("DefaultMaxSendBufferSize %d, the loop's default %d", DefaultMaxSendBufferSize, netloop.DefaultMaxSendBuffer)
	}
	if DefaultTLSHandshakeTimeout != netloop.DefaultTLSHandshakeTimeout {
		t.Errorf("DefaultTLSHandshakeTimeout %s, the loop's default %s", DefaultTLSHandshakeTimeout, netloop.DefaultTLSHandshakeTimeout)
	}
	for _, c := range []struct{ loop, public error }{
		{netloop.ErrSendBufferFull, ErrSendBufferFull},
		{netloop.ErrPeerClosed, ErrPeerClosed},
		{fmt.Errorf("connect 127.0.0.1:1: %w after 5s", netloop.ErrConnectTimeout), ErrConnectTimeout},
	} {
		got := publicError(c.loop)
		if !errors.Is(got, c.public) || got.Error() != c.loop.Error() {
			t.Errorf("publicError(%q) = %q, not errors.Is %q", c.loop, got, c.public)
		}
	}
	other := errors.New("other")
	if publicError(other) != other {
		t.Error("publicError changed an error the loop has no public name for")
	}
}

// wss:// written without a port gets 443; others are left for the parser
// to judge.
func TestWithDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"wss://example.test":      "wss://example.test:443",
		"ws://example.test":       "ws://example.test",
		"wss://example.test:8443": "wss://example.test:8443",
		"wss://[::1]":             "wss://[::1]:443",
		"wss://[::1]:8443":        "wss://[::1]:8443",
		"ssl://example.test":      "ssl://example.test",
		"text://example.test":     "text://example.test",
	} {
		if got := withDefaultPort(in); got != want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
}
