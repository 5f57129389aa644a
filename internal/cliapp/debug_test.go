package cliapp

import (
	"errors"
	"testing"

	"github.com/workermand/workermand/internal/master"
)

func TestParseDebugTarget(t *testing.T) {
	good := map[string]master.DebugRequest{
		"1234":           {PID: 1234},
		"web:0":          {Worker: "web", ID: 0},
		"api:v2:3":       {Worker: "api:v2", ID: 3}, // the last colon splits
		"chat gateway:1": {Worker: "chat gateway", ID: 1},
	}
	for arg, want := range good {
		got, err := parseDebugTarget(arg)
		if err != nil || *got != want {
			t.Errorf("parseDebugTarget(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, arg := range []string{"", "0", "-3", "web", ":1", "web:", "web:-1", "web:x"} {
		_, err := parseDebugTarget(arg)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("parseDebugTarget(%q): %v; want a usage error", arg, err)
		}
	}
}
