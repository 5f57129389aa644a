package config_test

import (
	"io/fs"
	"os"
	"strings"
	"testing"
)

// unixW and v6W start the Unix socket and IPv6 cases of TestRules.
const (
	unixW = "[[worker]]\nname = \"u\"\nlisten = \"unix:///tmp/wm.sock\"\n"
	v6W   = "[[worker]]\nname = \"a\"\nlisten = \"text://[::]:9\"\n"
)

// TestUnixWorkers: the two ways Workerman writes a Unix socket worker, and
// what the keys of the socket file become.
func TestUnixWorkers(t *testing.T) {
	c := mustParse(t, unixW+"socket_mode = \"0660\"\nsocket_owner = \"0\"\nsocket_group = \"0\"\n")
	w := c.Workers[0]
	if w.Transport != "unix" || w.Addr.Scheme != "tcp" || w.Addr.Path != "/tmp/wm.sock" || w.Listen != "unix:///tmp/wm.sock" {
		t.Errorf("unix:// worker: transport %q, addr %+v, listen %q", w.Transport, w.Addr, w.Listen)
	}
	if w.SocketMode != fs.FileMode(0o660) || w.SocketUID != 0 || w.SocketGID != 0 {
		t.Errorf("socket file: mode %v, owner %d:%d", w.SocketMode, w.SocketUID, w.SocketGID)
	}
	c = mustParse(t, "[[worker]]\nname = \"h\"\nlisten = \"http:///tmp/h.sock\"\ntransport = \"unix\"\n")
	w = c.Workers[0]
	if w.Transport != "unix" || w.Addr.Scheme != "http" || w.Addr.Path != "/tmp/h.sock" {
		t.Errorf("http over unix: transport %q, addr %+v", w.Transport, w.Addr)
	}
	// Without socket_owner the file goes to the worker's user, as in
	// Workerman; without either it stays the master's.
	if w.SocketUID != -1 || w.SocketGID != -1 {
		t.Errorf("socket owner %d:%d, want -1:-1", w.SocketUID, w.SocketGID)
	}
	c = mustParse(t, unixW+"user = \"0\"\n")
	if w := c.Workers[0]; w.SocketUID != 0 || w.SocketGID != 0 {
		t.Errorf("with user 0: socket owner %d:%d, want 0:0", w.SocketUID, w.SocketGID)
	}
}

func TestIPv6Only(t *testing.T) {
	v6 := "[[worker]]\nname = \"a\"\nlisten = \"text://[::]:9\"\nipv6_only = true\n"
	c := mustParse(t, v6+"[[worker]]\nname = \"b\"\nlisten = \"text://0.0.0.0:9\"\n")
	if !c.Workers[0].IPv6Only || c.Workers[1].IPv6Only {
		t.Errorf("ipv6_only: %v, %v", c.Workers[0].IPv6Only, c.Workers[1].IPv6Only)
	}
}

// TestCheckSocketFile: check warns about a socket directory that does not
// exist.
func TestCheckSocketFile(t *testing.T) {
	dir := t.TempDir()
	c := mustParse(t, "[[worker]]\nname = \"u\"\nlisten = \"unix://"+dir+"/missing/a.sock\"\n")
	var ws []string
	c.Check(func(s string) { ws = append(ws, s) })
	if len(ws) != 1 || !strings.Contains(ws[0], "worker[0].listen: the directory "+dir+"/missing of the socket does not exist") {
		t.Errorf("warnings %q", ws)
	}
	if err := os.Mkdir(dir+"/missing", 0o755); err != nil {
		t.Fatal(err)
	}
	ws = nil
	c.Check(func(s string) { ws = append(ws, s) })
	if len(ws) != 0 {
		t.Errorf("warnings %q once the directory exists", ws)
	}
}
