// Package test holds the integration tests of the workermand daemon: they
// build the real binaries once (the stock cmd/workermand and test/crashd, a
// custom binary with misbehaving handlers), start real masters on
// 127.0.0.1, and talk to them through the CLI, the control socket and real
// TCP connections.
//
// Nothing sleeps to wait for a condition: tests poll (status --json, the
// pid-file lock, connection attempts) against deadlines. Every master a test
// starts is stopped by t.Cleanup (workermand stop, then SIGKILL by pid as a
// last resort), and so are the children it saw.
//
// Set WORKERMAND_RACE_BINARY=1 to build both binaries with -race; the
// suite then fails a test whose daemon printed a data race report.
//
//	go test -count=1 ./test/
//	WORKERMAND_RACE_BINARY=1 go test -count=1 ./test/
package test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	// stockBin is cmd/workermand; crashBin is test/crashd; handoverBin is
	// test/handoverd; httpdBin is test/httpd. They live in a 0755
	// directory so that children running as nobody can execute them.
	stockBin, crashBin, handoverBin, httpdBin string
	// raceBinaries is set when the binaries were built with -race.
	raceBinaries bool
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	raceBinaries = os.Getenv("WORKERMAND_RACE_BINARY") == "1"
	dir, err := os.MkdirTemp("", "workermand-itest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// MkdirTemp makes 0700 directories; a child running as nobody must be
	// able to execute the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stockBin = filepath.Join(dir, "workermand")
	crashBin = filepath.Join(dir, "crashd")
	handoverBin = filepath.Join(dir, "handoverd")
	httpdBin = filepath.Join(dir, "httpd")
	start := time.Now()
	var wg sync.WaitGroup
	bins := []struct{ out, pkg string }{
		{stockBin, "github.com/workermand/workermand/cmd/workermand"},
		{crashBin, "github.com/workermand/workermand/test/crashd"},
		{handoverBin, "github.com/workermand/workermand/test/handoverd"},
		{httpdBin, "github.com/workermand/workermand/test/httpd"},
	}
	errs := make([]error, len(bins))
	for i, b := range bins {
		wg.Go(func() { errs[i] = build(b.out, b.pkg) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built binaries (race=%v) in %s\n", raceBinaries, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

func build(out, pkg string) error {
	args := []string{"build", "-o", out}
	if raceBinaries {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, pkg)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", cmd.Args[1:], err, b)
	}
	return os.Chmod(out, 0o755)
}

// goTool is the go command of the toolchain that built this test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
