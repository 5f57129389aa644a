package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "workermand")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-workermand", bin, "-quick", "-rounds", "3", "-groups", "udp,https"})
	if err != nil {
		t.Fatal(err)
	}
	if o.rounds != 3 || o.duration != 2*time.Second || o.idle != 1000 || !slices.Equal(o.groups, []string{"udp", "https"}) {
		t.Fatalf("quick did not leave explicit flags alone: %+v", o)
	}
	for _, bad := range [][]string{
		{"-groups", "http"}, {"-groups", "wss,wss"}, {"-server-cpu", "0"}, {"-duration", "1500ms"},
		{"-idle", "0"}, {"-workermand", filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := parseFlags(append([]string{"-workermand", bin}, bad...)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
