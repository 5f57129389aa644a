package main

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/workermand/workermand/bench/internal/runner"
)

var httpsMetrics = []runner.Metric{
	{Key: kaRate, Label: "keep-alive c100: req/s", Better: "higher", Format: "%.0f"},
	{Key: kaCPU, Label: "**keep-alive: server CPU (µs/req)**", Better: "lower", Format: "%.2f"},
	{Key: kaBusy, Label: "keep-alive: server CPU busy (%)", Format: "%.0f"},
	{Key: kaWrk, Label: "keep-alive: wrk CPU busy (%)", Format: "%.0f"},
	{Key: kaOther, Label: "keep-alive: other CPU on both cores (%)", Format: "%.0f"},
	{Key: newRate, Label: "new connection per request, c100: conn/s", Better: "higher", Format: "%.0f"},
	{Key: newCPU, Label: "**new connection: server CPU (µs/conn)**", Better: "lower", Format: "%.1f"},
	{Key: newBusy, Label: "new connection: server CPU busy (%)", Format: "%.0f"},
	{Key: newWrk, Label: "new connection: wrk CPU busy (%)", Format: "%.0f"},
	{Key: newOther, Label: "new connection: other CPU on both cores (%)", Format: "%.0f"},
	{Key: rssBase, Label: "RSS after start (MiB)", Better: "lower", Format: "%.1f"},
	{Key: idleKiB, Label: "**RSS per idle TLS connection (KiB)**", Better: "lower", Format: "%.2f"},
}

var echoMetrics = []runner.Metric{
	{Key: echoRate, Label: "echo msgs/s", Better: "higher", Format: "%.0f"},
	{Key: echoP50, Label: "p50 round trip (µs)", Better: "lower", Format: "%.1f"},
	{Key: echoP99, Label: "p99 round trip (µs)", Better: "lower", Format: "%.1f"},
	{Key: echoCPU, Label: "**server CPU (µs/msg)**", Better: "lower", Format: "%.3f"},
	{Key: echoBusy, Label: "server CPU busy (%)", Format: "%.0f"},
	{Key: echoLoad, Label: "generator CPU busy (%)", Format: "%.0f"},
	{Key: echoOther, Label: "other CPU on both cores (%)", Format: "%.0f"},
}

// targets are issue 11's: workermand's figure over nginx's at most this.
var targets = []struct {
	key, what string
	max       float64
}{
	{kaCPU, "keep-alive server CPU per request", 1.05},
	{newCPU, "new-connection server CPU per connection", 1.25},
	{idleKiB, "RSS per idle TLS connection", 0.5},
}

func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nMedians of %d round(s); %s runs after %s warm-ups; %d connections; servers pinned to CPU %d, load to CPU %d; %s.\n",
		b.rounds, b.duration, b.warmup, b.conns, b.serverCPU, b.loadCPU, runner.Machine())
	fmt.Fprintf(&sb, "workermand is `workermand start` (master + 1 child); TLS clients offer X25519 only (wrk: TLS_AES_128_GCM_SHA256 too); ECDSA P-256 certificate.\n")
	if b.https != nil {
		fmt.Fprintf(&sb, "\n### HTTPS: workermand vs %s (1 worker), wrk %s; %d idle TLS connections, RSS read %s after the last\n\n",
			b.ng.Version, wrkVersion(b.wrk), b.idle, b.settle)
		b.https.Table(&sb, httpsMetrics)
		sb.WriteString("\nTargets (workermand/nginx, medians):\n\n")
		for _, t := range targets {
			r := b.https.Median("workermand", t.key) / b.https.Median("nginx", t.key)
			verdict := "met"
			if !(r <= t.max) {
				verdict = fmt.Sprintf("MISSED by %.0f %%", 100*(r/t.max-1))
			}
			fmt.Fprintf(&sb, "- %s: %s (target ≤ %.2f): %s\n", t.what, runner.Num("%.2f", r), t.max, verdict)
		}
	}
	if b.wss != nil {
		fmt.Fprintf(&sb, "\n### wss echo: workermand vs gorilla/websocket on net/http + crypto/tls (GOMAXPROCS=1); %d conns, 64-byte binary messages\n\n", b.conns)
		b.wss.Table(&sb, echoMetrics)
	}
	if b.udp != nil {
		fmt.Fprintf(&sb, "\n### UDP echo: workermand vs gnet (one loop, GOMAXPROCS=1); %d sockets, 64-byte datagrams\n\n", b.conns)
		b.udp.Table(&sb, echoMetrics)
	}
	return sb.String()
}

// wrkVersion is the second word of the first line wrk -v prints.
func wrkVersion(path string) string {
	out, _ := exec.Command(path, "-v").CombinedOutput()
	f := strings.Fields(string(out))
	if len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return "(unknown version)"
}
