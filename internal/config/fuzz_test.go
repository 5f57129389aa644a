package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/config"
)

// FuzzParse: Parse never panics, returns either a config or an *Errors with
// at least one problem, and every problem has a message and a line inside
// the file.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.toml", "../../configs/*.toml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add(config.DefaultSource())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, "fuzz.toml", testHooks)
		if err != nil {
			var errs *config.Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("error %T %v: want *Errors with problems", err, err)
			}
			if c != nil {
				t.Fatal("config returned with an error")
			}
			lines := strings.Count(string(data), "\n") + 1
			for _, p := range errs.Problems {
				if p.Msg == "" || p.File != "fuzz.toml" || p.Line < 0 || p.Line > lines {
					t.Fatalf("bad problem %+v (file has %d lines)", p, lines)
				}
			}
			return
		}
		if len(c.Workers) == 0 {
			t.Fatal("a valid config without workers")
		}
		for _, w := range c.Workers {
			if w.Name == "" || !w.Addr.IP.IsValid() && !w.Addr.IsPath() || w.Count < 1 {
				t.Fatalf("invalid worker accepted: %+v", w)
			}
			_ = w.DecodeOptions(&greeterOptions{})
		}
		_ = c.Summary()
		if d := c.Diff(c); len(d) != 0 {
			t.Fatalf("a config differs from itself: %q", d)
		}
	})
}
