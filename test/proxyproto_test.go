package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// proxy_protocol through the daemon: a listed source (here loopback) sends a
// PROXY v1 header first, and the worker then sees the client address from
// the header — `connections` lists it — while the echo works as usual.
func TestProxyProtocolThroughDaemon(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("lb", "text://127.0.0.1:0", "echo", 1, `proxy_protocol = ["127.0.0.1/32"]`))
	d.start()
	st := d.waitReady("lb", 1)

	c := dial(t, st.addr("lb"))
	if _, err := c.Write([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 4567 80\r\n")); err != nil {
		t.Fatal(err)
	}
	c.mustEcho(t, "through the balancer")

	r := d.mustRun(0, "connections", "--json")
	var rows []connRow
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("connections --json: %v in %q", err, r.out)
	}
	if len(rows) != 1 || rows[0].Remote != "203.0.113.7:4567" {
		t.Fatalf("connections: %+v; want one row from 203.0.113.7:4567", rows)
	}

	// A listed source that skips the header is closed as malformed.
	bare := dial(t, st.addr("lb"))
	if _, err := bare.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := bare.waitEOF(slow(5 * time.Second)); err != nil || strings.Contains(data, "hello") {
		t.Fatalf("connection without a PROXY header: %q, %v; want it closed unanswered", data, err)
	}
}
