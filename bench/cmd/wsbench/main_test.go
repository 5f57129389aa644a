package main

import (
	"slices"
	"testing"
	"time"
)

func TestParseFlagsQuickAndTemplate(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-rounds", "3", "-servers", "gorilla,workermand"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Rounds != 3 || o.Duration != 2*time.Second || !slices.Equal(o.Servers, []string{"gorilla", "workermand"}) {
		t.Fatalf("quick did not leave explicit flags alone: %+v", o)
	}
	argv, env, err := o.serverArgv("/self", "workermand", "127.0.0.1:9001")
	want := []string{"../bin/workermand", "serve", "--listen", "websocket://127.0.0.1:9001", "--handler", "echo"}
	if !slices.Equal(argv, want) || env != nil || err != nil {
		t.Fatalf("workermand argv %q env %q, %v", argv, env, err)
	}
	argv, env, err = o.serverArgv("/self", "gnet", "127.0.0.1:9002")
	if !slices.Equal(argv, []string{"/self", "wsgnet", "-addr", "127.0.0.1:9002"}) || !slices.Equal(env, []string{"GOMAXPROCS=1"}) || err != nil {
		t.Fatalf("gnet argv %q env %q, %v", argv, env, err)
	}
	for _, bad := range [][]string{{"-servers", "nginx"}, {"-servers", "gnet,gnet"}, {"-server-cpu", "0"}, {"-conns", "0"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
