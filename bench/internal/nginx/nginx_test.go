package nginx

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/workermand/workermand/bench/internal/tlsload"
)

// TestConfPassesNginxCheck checks every kind of site against nginx -t,
// since a config nginx refuses would only show as a failed benchmark.
func TestConfPassesNginxCheck(t *testing.T) {
	const path = "/usr/sbin/nginx"
	if _, err := exec.LookPath(path); err != nil {
		t.Skipf("no nginx: %v", err)
	}
	n, err := Probe(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cert, key, err := tlsload.WriteCert(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for name, site := range map[string]Site{
		"hello":  {Addr: "127.0.0.1:1", Body: "Hello, World!"},
		"static": {Addr: "127.0.0.1:1", Root: tmp},
		"https":  {Addr: "127.0.0.1:1", Body: "Hello, World!", Cert: cert, Key: key},
	} {
		dir := t.TempDir()
		argv, err := n.Command(site, dir)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(argv[0], append(argv[1:], "-t")...).CombinedOutput()
		if err != nil {
			conf, _ := os.ReadFile(filepath.Join(dir, "nginx.conf"))
			t.Fatalf("%s: nginx -t: %v\n%s\n%s", name, err, out, conf)
		}
	}
}
