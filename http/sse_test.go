package http

import (
	"testing"
	"time"
)

func TestServerSentEventAppendTo(t *testing.T) {
	for _, c := range []struct {
		e    ServerSentEvent
		want string
	}{
		{ServerSentEvent{Data: "hi"}, "data: hi\n\n"},
		{
			ServerSentEvent{Comment: "c", Event: "update", ID: "42", Retry: 1500 * time.Millisecond, Data: "a\nb\r\nc\rd"},
			": c\nevent: update\nid: 42\nretry: 1500\ndata: a\ndata: b\ndata: c\ndata: d\n\n",
		},
		{ServerSentEvent{Comment: "keep-alive"}, ": keep-alive\n\n"},
		{ServerSentEvent{Data: "x\n"}, "data: x\ndata: \n\n"},
		{ServerSentEvent{Event: "a\nid: 9", ID: "1\r", Data: "d"}, "data: d\n\n"},
		{ServerSentEvent{ID: "a\x00b", Data: "d"}, "data: d\n\n"},
		{ServerSentEvent{Retry: -time.Second, Data: "d"}, "data: d\n\n"},
		{ServerSentEvent{}, "\n"},
	} {
		if got := string(c.e.AppendTo(nil)); got != c.want {
			t.Errorf("%+v: AppendTo = %q, want %q", c.e, got, c.want)
		}
	}
}
