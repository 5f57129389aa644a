package config_test

import (
	"strings"
	"testing"
)

// TestTCPAndUDPShareAPort: TCP and UDP ports are separate, so a TCP worker
// and a UDP worker on one ip:port (or a wildcard covering it) both bind;
// two workers of the same protocol there still collide, reported at the
// second one's listen key with the first one's line.
func TestTCPAndUDPShareAPort(t *testing.T) {
	const (
		tcp       = "[[worker]]\nname = \"tcp\"\nlisten = \"text://0.0.0.0:9300\"\n"
		udp       = "[[worker]]\nname = \"udp\"\nlisten = \"udp://0.0.0.0:9300\"\n"
		textOnUDP = "[[worker]]\nname = \"text-udp\"\nlisten = \"text://127.0.0.1:9300\"\ntransport = \"udp\"\n"
		udpV6     = "[[worker]]\nname = \"udp6\"\nlisten = \"udp://[::]:9300\"\n"
	)
	c := mustParse(t, tcp+udp)
	if c.Workers[0].Transport == "udp" || c.Workers[1].Transport != "udp" {
		t.Errorf("transports %q, %q", c.Workers[0].Transport, c.Workers[1].Transport)
	}
	mustParse(t, udp+tcp)
	mustParse(t, textOnUDP+tcp)
	for _, tc := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"two udp", tcp + udp + textOnUDP, 9, `127.0.0.1:9300 is already taken by worker[1] "udp" (udp://0.0.0.0:9300, line 6)`},
		{"two tcp", udp + tcp + strings.ReplaceAll(tcp, `"tcp"`, `"tcp2"`), 9, `0.0.0.0:9300 is already taken by worker[1] "tcp" (text://0.0.0.0:9300, line 6)`},
		{"dual-stack udp", tcp + udp + udpV6, 9, `already taken by worker[1] "udp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problems(t, tc.src)
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1: %+v", len(ps), ps)
			}
			if p := ps[0]; p.Key != "worker[2].listen" || p.Line != tc.line || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("got %+v, want worker[2].listen at line %d: %s", p, tc.line, tc.msg)
			}
		})
	}
}
