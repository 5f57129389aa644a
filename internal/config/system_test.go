package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/config"
)

func TestCheckSystem(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	somax, ports, nrOpen := file("somaxconn", "4096\n"), file("ports", "32768\t60999\n"), file("nr_open", "1048576\n")
	migrate0 := file("migrate", "0\n")
	src := `
[[worker]]
name = "a"
listen = "text://127.0.0.1:9000"
count = 4
reuse_port = true
max_connections = 50000

[[worker]]
name = "b"
listen = "text://127.0.0.1:9001"
backlog = 1024
`
	c := mustParse(t, src)
	find := func(fs []config.Finding, what string) []config.Finding {
		var out []config.Finding
		for _, f := range fs {
			if f.What == what {
				out = append(out, f)
			}
		}
		return out
	}

	defer config.SetSystemFiles(somax, ports, nrOpen, migrate0, 64, 20000)()
	fs := c.CheckSystem()
	of := find(fs, "open files")
	if len(of) != 2 || !of[0].Warn || !strings.Contains(of[0].Msg, "worker[0]: max_connections = 50000 needs about 50064 descriptors per process, the hard limit is 20000") ||
		!strings.Contains(of[0].Msg, "fs.nr_open = 1048576") {
		t.Errorf("open files with max_connections above the hard limit: %+v", of)
	}
	// The master: 5 sockets (4 reuse_port + 1), 2 per child (5), the reserve.
	if len(of) == 2 && (!of[1].Warn || !strings.Contains(of[1].Msg, "the master needs about 79 descriptors")) {
		t.Errorf("the master needs more than a soft limit of 64: %+v", of[1])
	}
	if s := find(fs, "net.core.somaxconn"); len(s) != 1 || !s[0].Warn || !strings.Contains(s[0].Msg, "caps the listen backlog of a (102400)") || strings.Contains(s[0].Msg, "b (") {
		t.Errorf("somaxconn: %+v", s)
	}
	if m := find(fs, "net.ipv4.tcp_migrate_req"); len(m) != 1 || !m[0].Warn {
		t.Errorf("tcp_migrate_req 0 with reuse_port: %+v", m)
	}
	if p := find(fs, "net.ipv4.ip_local_port_range"); len(p) != 1 || p[0].Warn || !strings.Contains(p[0].Msg, "28232") {
		t.Errorf("port range: %+v", p)
	}
}
