package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/workermand/workermand/bench/internal/nginx"
)

func TestNginxConfigPassesNginxCheck(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(o.nginx); err != nil {
		t.Skipf("no nginx: %v", err)
	}
	b := &bench{options: o, staticDir: t.TempDir()}
	if b.ng, err = nginx.Probe(o.nginx); err != nil {
		t.Fatal(err)
	}
	for _, static := range []bool{false, true} {
		dir := t.TempDir()
		argv, _, err := b.command("nginx", static, "127.0.0.1:1", dir)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(argv[0], append(argv[1:], "-t")...).CombinedOutput()
		if err != nil {
			conf, _ := os.ReadFile(filepath.Join(dir, "nginx.conf"))
			t.Fatalf("static=%v: nginx -t: %v\n%s\n%s", static, err, out, conf)
		}
	}
}

func TestWorkermandTemplatesKeepOptionsInOneArgument(t *testing.T) {
	o, err := parseFlags([]string{"-workermand", "/opt/my dir/workermand"})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{options: o, self: "/self", staticDir: "/tmp/static dir"}
	argv, _, err := b.command("workermand", false, "127.0.0.1:8080", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/my dir/workermand", "serve", "--listen", "http://127.0.0.1:8080",
		"--handler", "respond", "--options", `body = "Hello, World!"`}
	if strings.Join(argv, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", argv, want)
	}
	argv, _, err = b.command("workermand", true, "127.0.0.1:8080", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := argv[len(argv)-1]; got != `root = "/tmp/static dir"` {
		t.Fatalf("static options %q", got)
	}
}

func TestReportShowsFailuresAndRatios(t *testing.T) {
	o, err := parseFlags([]string{"-servers", "workermand,gnet,net", "-tests", "c100,static4k"})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{options: o, cells: map[string]map[string]*cell{}}
	b.cell("c100", "workermand").samples = []sample{{reqPerSec: 100, cpuPerReq: 2}, {reqPerSec: 300, cpuPerReq: 4}, {reqPerSec: 200, cpuPerReq: 3}}
	b.cell("c100", "gnet").samples = []sample{{reqPerSec: 400, cpuPerReq: 1.5}}
	b.cell("c100", "net").samples = []sample{{reqPerSec: 500, cpuPerReq: 1}}
	b.cell("c100", "net").failed = 1
	b.cell("static4k", "workermand").samples = []sample{{reqPerSec: 10}}
	table := b.report()
	for _, want := range []string{
		"| keep-alive, c100 | req/s | higher | 200 | 400 | FAIL (1/2) | 2.00 | n/a |", // medians, ratio to the first
		"| **server CPU (µs/req)** | lower | 3.000 | 1.500 | FAIL (1/2) | 0.50 | n/a |",
		"| static 4k.bin, c100 | req/s | higher | 10 | – | n/a | n/a | n/a |", // gnet serves no files
		"| all | failed measurements | lower | 0 | 0 | 1 |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestParseFlagsQuickAndChecks(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-rounds", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Rounds != 3 || o.Duration.Seconds() != 2 || o.Warmup.Seconds() != 1 {
		t.Fatalf("quick with explicit rounds: %+v", o)
	}
	for _, bad := range [][]string{
		{"-servers", "gnet,apache"},
		{"-servers", "gnet,gnet"},
		{"-tests", "c10"},
		{"-duration", "1500ms"},
		{"-server-cpu", "0"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
