package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// udpExchange sends req from a fresh UDP socket and returns the one
// datagram answered.
func udpExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	// A datagram may be lost; ask again rather than fail on one drop.
	for range 5 {
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(slow(2 * time.Second)))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no answer from %s to %q", addr, req)
	return ""
}

// udpCounters reads the datagram counters of a worker's processes from
// status --json.
func udpCounters(t *testing.T, d *daemon, name string) (datagrams, dropped, requests uint64) {
	t.Helper()
	r := d.mustRun(0, "status", "--json")
	var doc struct {
		Processes []struct {
			Worker           string `json:"worker"`
			Datagrams        uint64 `json:"datagrams"`
			DatagramsDropped uint64 `json:"datagrams_dropped"`
			TotalRequest     uint64 `json:"total_request"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.out)
	}
	for _, p := range doc.Processes {
		if p.Worker == name {
			datagrams += p.Datagrams
			dropped += p.DatagramsDropped
			requests += p.TotalRequest
		}
	}
	return
}

// A udp:// worker answers each datagram to its sender (Go's client and
// socat), text over UDP answers each line, oversized datagrams are dropped
// and counted, reuse_port spreads senders over the processes, and reload
// and stop work with no connection to drain.
func TestUDPWorkers(t *testing.T) {
	t.Parallel()
	socat := needTool(t, "socat")
	d := newDaemon(t, stockBin)
	rawPort, textPort := freePort(t), freePort(t)
	raw := fmt.Sprintf("127.0.0.1:%d", rawPort)
	text := fmt.Sprintf("127.0.0.1:%d", textPort)
	d.writeConfig(
		worker("udp-raw", "udp://"+raw, "echo", 2, "reuse_port = true", "max_package_size = 1000"),
		worker("udp-text", "text://"+text, "echo", 1, `transport = "udp"`),
	)
	d.start()
	d.waitReady("udp-raw", 2)
	d.waitReady("udp-text", 1)

	if got := udpExchange(t, raw, "hello"); got != "hello" {
		t.Errorf("raw echo: %q", got)
	}
	// socat sends stdin as one datagram and prints the answer.
	cmd := exec.Command(socat, "-T", "2", "-", "UDP:"+text)
	cmd.Stdin = strings.NewReader("one\ntwo\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("socat got %q, want each line echoed", out.String())
	}

	// Too large for max_package_size: dropped, counted, no answer.
	c, err := net.Dial("udp", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, 1500)); err != nil {
		t.Fatal(err)
	}
	// Many senders reach both processes with reuse_port (the kernel hashes
	// the sender's address).
	for i := range 40 {
		if got := udpExchange(t, raw, fmt.Sprint(i)); got != fmt.Sprint(i) {
			t.Fatalf("echo %d: %q", i, got)
		}
	}
	waitFor(t, slow(5*time.Second), "the dropped datagram counted", func() (bool, string) {
		n, dropped, reqs := udpCounters(t, d, "udp-raw")
		return dropped == 1 && n >= 42 && reqs >= 41, fmt.Sprintf("datagrams %d, dropped %d, requests %d", n, dropped, reqs)
	})
	st := d.mustStatus()
	busy := 0
	for _, p := range st.procs("udp-raw") {
		if p.TotalRequest > 0 {
			busy++
		}
		if p.Connections != 0 {
			t.Errorf("a UDP process counts %d connections", p.Connections)
		}
	}
	if busy != 2 {
		t.Errorf("reuse_port: %d of 2 processes got datagrams", busy)
	}

	d.mustRun(0, "reload")
	d.waitReady("udp-raw", 2)
	if got := udpExchange(t, raw, "after reload"); got != "after reload" {
		t.Errorf("after reload: %q", got)
	}
	d.mustRun(0, "stop")
}

// check refuses protocols that need a connection over UDP, at file:line.
func TestUDPCheckRefusesHTTP(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("web", "http://127.0.0.1:8080", "echo", 1, `transport = "udp"`))
	r := d.mustRun(2, "check")
	if !strings.Contains(r.err+r.out, "wm.toml:") || !strings.Contains(r.err+r.out, "http:// cannot run over UDP") {
		t.Errorf("check: %s", r)
	}
}
