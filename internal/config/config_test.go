package config_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/config"
	_ "github.com/workermand/workermand/internal/protocol"           // tcp, text, frame
	_ "github.com/workermand/workermand/internal/protocol/httpproto" // http
	_ "github.com/workermand/workermand/internal/protocol/wsproto"   // websocket
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// greeterOptions is a sample handler's options.
type greeterOptions struct {
	Greeting string          `toml:"greeting"`
	Repeat   int             `toml:"repeat"`
	Delay    config.Duration `toml:"delay"`
}

// testHooks stands for the handler registry, the way workerman.NewHandler
// behaves: an unknown name fails before decoding; options errors are
// wrapped; validation runs after decoding.
var testHooks = config.Hooks{Handler: func(name string, decode func(any) error) error {
	switch name {
	case "echo":
		if err := decode(&struct{}{}); err != nil {
			return fmt.Errorf("handler %q options: %w", name, err)
		}
		return nil
	case "greeter":
		var o greeterOptions
		if err := decode(&o); err != nil {
			return fmt.Errorf("handler %q options: %w", name, err)
		}
		if o.Repeat < 0 {
			return fmt.Errorf("handler %q options: repeat must not be negative", name)
		}
		return nil
	case "panicky":
		_ = decode(&struct{}{})
		panic("boom")
	case "broadcast", "channel", "globaldata":
		// The handlers of configs/broadcast.toml, channel.toml and
		// globaldata.toml; their options are checked by their own tests.
		return nil
	case "respond", "static", "demo":
		// The stock HTTP handlers of configs/*.toml and the embedded
		// default; their options are checked by their own tests.
		return nil
	}
	return fmt.Errorf("unknown handler %q (registered: echo, greeter, panicky)", name)
}}

// TestTestdata parses every testdata/*.toml: ok-* must be valid, bad-* must
// fail with the text of the matching .err file (go test -update rewrites
// them).
func TestTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse(data, file, testHooks)
			if strings.HasPrefix(name, "ok-") {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(c.Workers) == 0 {
					t.Fatal("no workers")
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded; want problems")
			}
			var errs *config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not *config.Errors", err)
			}
			checkLines(t, data, errs)
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// checkLines verifies that each problem's line is where its key is written:
// the line holds the key's last part, or, for a key that is missing or
// whose worker is the subject, the worker's header or inline table.
func checkLines(t *testing.T, data []byte, errs *config.Errors) {
	t.Helper()
	lines := strings.Split(string(data), "\n")
	for _, p := range errs.Problems {
		if p.Line == 0 {
			if p.Key != "worker" && p.Key != "" {
				t.Errorf("%s: no line", p)
			}
			continue
		}
		if p.Line > len(lines) {
			t.Errorf("%s: line out of range", p)
			continue
		}
		text := lines[p.Line-1]
		if p.Key == "" {
			continue // a syntax error: the decoder's own position
		}
		parts := strings.Split(indexRE.ReplaceAllString(p.Key, ""), ".")
		last := strings.Trim(parts[len(parts)-1], `"`)
		switch {
		case strings.Contains(text, last):
		case strings.HasPrefix(p.Msg, "missing") && (strings.Contains(text, "[[worker]]") || strings.Contains(text, "{")):
		case strings.Contains(p.Key, "proxy_protocol["): // an element on its own line
		default:
			t.Errorf("%s: line %d is %q, which does not hold %q", p, p.Line, text, last)
		}
	}
}
