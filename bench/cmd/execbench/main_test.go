package main

import (
	"slices"
	"testing"
)

func TestServerArgv(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-gochat", "/g", "-script", "/e.php", "-queue-bytes", "4096"})
	if err != nil {
		t.Fatal(err)
	}
	argv, _, err := o.serverArgv("/self", "exec-php", "127.0.0.1:9001")
	want := []string{"../bin/workermand", "serve", "--listen", "websocket://127.0.0.1:9001", "--handler", "exec",
		"--options", "command = [\"php\", \"/e.php\"]\nqueue_bytes = 4096"}
	if err != nil || !slices.Equal(argv, want) {
		t.Fatalf("exec-php argv %q, %v", argv, err)
	}
	argv, _, err = o.serverArgv("/self", "echo", "127.0.0.1:9002")
	if err != nil || !slices.Equal(argv, []string{"../bin/workermand", "serve", "--listen", "websocket://127.0.0.1:9002", "--handler", "echo"}) {
		t.Fatalf("echo argv %q, %v", argv, err)
	}
	for _, bad := range [][]string{{"-servers", "nginx"}, {"-conns", "0"}, {"-size", "8"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
