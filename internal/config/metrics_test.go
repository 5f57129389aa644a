package config_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/config"
)

const metW = "[[worker]]\nname = \"a\"\nlisten = \"text://127.0.0.1:2347\"\n"

func TestMetricsDefaults(t *testing.T) {
	c := mustParse(t, metW)
	if c.Metrics.Enabled || strings.Contains(c.Summary(), "metrics") {
		t.Errorf("no [metrics] table, but the endpoint is on: %+v", c.Metrics)
	}
	c = mustParse(t, "[metrics]\n"+metW)
	if want := (config.Metrics{Enabled: true, Listen: "127.0.0.1:9100", Path: "/metrics"}); c.Metrics != want {
		t.Errorf("[metrics] alone: %+v, want %+v", c.Metrics, want)
	}
	if !strings.Contains(c.Summary(), "\nmetrics: http://127.0.0.1:9100/metrics\n") {
		t.Errorf("check's summary lacks the endpoint:\n%s", c.Summary())
	}
	c = mustParse(t, "[metrics]\nlisten = \":9200\"\npath = \"/prom\"\n"+metW)
	if c.Metrics.Listen != ":9200" || c.Metrics.URL() != "http://0.0.0.0:9200/prom" {
		t.Errorf("metrics %+v, URL %s", c.Metrics, c.Metrics.URL())
	}
	c = mustParse(t, "[metrics]\nlisten = \"[::1]:9100\"\n"+metW)
	if c.Metrics.URL() != "http://[::1]:9100/metrics" {
		t.Errorf("URL %s", c.Metrics.URL())
	}
	c = mustParse(t, "[metrics]\nenabled = false\n"+metW)
	if c.Metrics.Enabled || c.Metrics.URL() != "" {
		t.Errorf("enabled = false left it on: %+v", c.Metrics)
	}
}

// Every problem at its file:line:key.
func TestMetricsProblems(t *testing.T) {
	for src, want := range map[string]string{
		"metrics = 1\n" + metW:                                   `test.toml:1: metrics: must be a table ([metrics]), not an integer`,
		"[metrics]\nlisten = 9100\n" + metW:                      `test.toml:2: metrics.listen: must be a string, not an integer`,
		"[metrics]\nlisten = \"9100\"\n" + metW:                  `test.toml:2: metrics.listen: "9100" is not host:port`,
		"[metrics]\nlisten = \"http://127.0.0.1:9100\"\n" + metW: `test.toml:2: metrics.listen: "http://127.0.0.1:9100": want host:port without a scheme`,
		"[metrics]\nlisten = \"localhost:9100\"\n" + metW:        `test.toml:2: metrics.listen: "localhost:9100": the host must be an IP address`,
		"[metrics]\nlisten = \"127.0.0.1:0\"\n" + metW:           `test.toml:2: metrics.listen: "127.0.0.1:0": the port must be a number from 1 to 65535`,
		"[metrics]\nlisten = \"127.0.0.1:70000\"\n" + metW:       `test.toml:2: metrics.listen: "127.0.0.1:70000": the port must be a number from 1 to 65535`,
		"[metrics]\npath = \"metrics\"\n" + metW:                 `test.toml:2: metrics.path: "metrics" must start with /`,
		"[metrics]\npath = \"/m?x=1\"\n" + metW:                  `test.toml:2: metrics.path: "/m?x=1" must be a plain URL path`,
		"[metrics]\nenabled = 1\n" + metW:                        `test.toml:2: metrics.enabled: must be a boolean`,
		"[metrics]\nlisen = \":9100\"\n" + metW:                  `test.toml:2: metrics.lisen: unknown key (did you mean "listen"?)`,
		"[metrics]\nlisten = \":2347\"\n" + metW:                 `test.toml:2: metrics.listen: :2347 is also where worker[0] "a" listens (text://127.0.0.1:2347, line 5)`,
		"[metrics]\nlisten = \"127.0.0.1:2347\"\n" + metW:        `test.toml:2: metrics.listen: 127.0.0.1:2347 is also where worker[0] "a"`,
	} {
		ps := problems(t, src)
		if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), want) {
			t.Errorf("%q: problems %v, want %s", src, ps, want)
		}
	}
	// A UDP worker on the port, or a TCP one on another address, is no
	// collision.
	mustParse(t, "[metrics]\nlisten = \"127.0.0.1:2347\"\n[[worker]]\nname = \"u\"\nlisten = \"text://127.0.0.1:2347\"\ntransport = \"udp\"\n")
	mustParse(t, "[metrics]\nlisten = \"127.0.0.2:2347\"\n"+metW)
}

// A changed endpoint refuses the reload, as a changed pid_file does.
func TestMetricsDiff(t *testing.T) {
	on := mustParse(t, "[metrics]\nlisten = \"127.0.0.1:9100\"\n"+metW)
	if d := on.Diff(mustParse(t, "[metrics]\nlisten = \"127.0.0.1:9100\"\n"+metW)); len(d) != 0 {
		t.Errorf("same endpoint: %q", d)
	}
	d := on.Diff(mustParse(t, "[metrics]\nlisten = \"127.0.0.1:9101\"\n"+metW))
	want := "test.toml:2: metrics.listen: cannot change on reload (running with http://127.0.0.1:9100/metrics, the file now says http://127.0.0.1:9101/metrics); restart to apply it"
	if !slices.Equal(d, []string{want}) {
		t.Errorf("changed listen: %q, want %q", d, want)
	}
	d = on.Diff(mustParse(t, metW))
	if len(d) != 1 || !strings.Contains(d[0], "metrics: cannot change on reload (running with http://127.0.0.1:9100/metrics, the file now says no metrics endpoint)") {
		t.Errorf("table removed: %q", d)
	}
}

// A program's MetricsListen applies unless the file has [metrics].
func TestSetMetricsListen(t *testing.T) {
	c := mustParse(t, metW)
	if err := c.SetMetricsListen("127.0.0.1:9300"); err != nil || c.Metrics.URL() != "http://127.0.0.1:9300/metrics" {
		t.Errorf("SetMetricsListen: %v, %+v", err, c.Metrics)
	}
	c = mustParse(t, "[metrics]\nenabled = false\n"+metW)
	if err := c.SetMetricsListen("127.0.0.1:9300"); err != nil || c.Metrics.Enabled {
		t.Errorf("the file's [metrics] was overridden: %v, %+v", err, c.Metrics)
	}
	c = mustParse(t, metW)
	if err := c.SetMetricsListen("nowhere"); err == nil || !strings.HasPrefix(err.Error(), "MetricsListen: ") {
		t.Errorf("bad address: %v", err)
	}
}

// The example documents every key of [metrics].
func TestExampleDocumentsMetrics(t *testing.T) {
	data, err := os.ReadFile("../../configs/workermand.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^#?\[metrics\]`).Match(data) {
		t.Error("the example has no [metrics] table")
	}
	for _, k := range config.MetricsKeys() {
		if !regexp.MustCompile(`(?m)^#?` + k + ` =`).Match(data) {
			t.Errorf("the example does not document metrics.%s", k)
		}
	}
}
