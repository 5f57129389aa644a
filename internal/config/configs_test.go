package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/workermand/workermand/internal/config"
)

// TestConfigsDir keeps the examples in configs/ valid.
func TestConfigsDir(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.toml")
	if err != nil || len(files) < 3 {
		t.Fatalf("configs: %v, %v", files, err)
	}
	defer config.SetIDs(0, 0)()
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := config.Load(file, testHooks)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(c.Workers) == 0 {
				t.Fatal("no workers")
			}
			if err := c.Resolve(); err != nil {
				t.Fatal(err)
			}
			if c.Summary() == "" {
				t.Fatal("empty summary")
			}
		})
	}
}

// TestExampleDocumentsEveryKey: workermand.example.toml mentions every key,
// set or commented out, so it stays the reference.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../configs/workermand.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	global, worker := config.Keys()
	for _, k := range append(global[:len(global):len(global)], worker...) {
		re := regexp.MustCompile(`(?m)^#?(` + k + ` =|\[worker\.` + k + `\])`)
		if k == "worker" {
			re = regexp.MustCompile(`(?m)^\[\[worker\]\]`)
		}
		if k == "monitor" {
			re = regexp.MustCompile(`(?m)^#?\[monitor\]`) // its keys: TestExampleDocumentsMonitor
		}
		if k == "metrics" {
			re = regexp.MustCompile(`(?m)^#?\[metrics\]`) // its keys: TestExampleDocumentsMetrics
		}
		if !re.Match(data) {
			t.Errorf("the example does not document %q", k)
		}
	}
}
