package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

const helperEnv = "WORKERMAND_LOGGING_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := childMain(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childMain plays a child: fd 3 is the master's log file, fd 4 its end of a
// socketpair standing in for the control channel. It logs, tells the master,
// receives a reopened file by SCM_RIGHTS, installs it with Swap, logs again.
func childMain() error {
	logger, out, err := FromFile(os.NewFile(3, "log"), "info", "json", zap.Int("pid", os.Getpid()), zap.String("role", "child"))
	if err != nil {
		return err
	}
	ch := 4
	logger.Info("before reopen")
	if _, err := unix.Write(ch, []byte("logged")); err != nil {
		return err
	}
	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(ch, buf, oob, 0)
	if err != nil {
		return err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("control messages %v: %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return fmt.Errorf("rights %v: %v", fds, err)
	}
	if err := out.Swap(os.NewFile(uintptr(fds[0]), "log")); err != nil {
		return err
	}
	logger.Info("after reopen")
	return logger.Sync()
}

type entry map[string]any

// readLog parses a JSON log file, one entry per line.
func readLog(t *testing.T, path string) []entry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		es = append(es, e)
	}
	return es
}

func msgs(es []entry) []string {
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprint(e["msg"]))
	}
	return s
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	logger, out, err := New(Options{Level: "info", Format: "json", Path: path, Fields: []zap.Field{zap.Int("pid", 42), zap.String("role", "master")}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	logger.Debug("hidden")
	logger.Named("netloop").Info("hello", zap.String("worker", "echo"))
	logger.Warn("careful")
	if err := logger.Sync(); err != nil {
		t.Fatal(err)
	}
	es := readLog(t, path)
	if got := msgs(es); strings.Join(got, ",") != "hello,careful" {
		t.Fatalf("messages %v", got)
	}
	e := es[0]
	if e["level"] != "info" || e["logger"] != "netloop" || e["worker"] != "echo" || e["pid"] != 42.0 || e["role"] != "master" {
		t.Fatalf("entry %v", e)
	}
	ts, _ := e["ts"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts); err != nil {
		t.Fatalf("ts %q is not ISO 8601 with milliseconds: %v", ts, err)
	}
	if c, _ := e["caller"].(string); !strings.HasPrefix(c, "logging/logging_test.go:") {
		t.Fatalf("caller %q", c)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm()&^0o022 != FileMode&^0o022 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if out.Path() != path {
		t.Fatalf("Path %q", out.Path())
	}
}

// TestHasField: a logger knows the keys it adds to every entry, through
// Options.Fields and With but not inside a namespace, so a caller can leave
// out a key that would appear twice.
func TestHasField(t *testing.T) {
	logger, out, err := New(Options{Level: "info", Format: "json", Path: filepath.Join(t.TempDir(), "f.log"),
		Fields: []zap.Field{zap.Int("pid", 42), zap.String("worker", "echo")}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, tc := range []struct {
		l    *zap.Logger
		key  string
		want bool
	}{
		{logger, "worker", true},
		{logger, "pid", true},
		{logger, "conn", false},
		{logger.Named("netloop"), "worker", true},
		{logger.With(zap.Uint64("conn", 7)), "conn", true},
		{logger.With(zap.Namespace("req"), zap.String("path", "/")), "path", false},
		{logger.With(zap.Namespace("req")).With(zap.String("path", "/")), "path", false},
		{zap.NewNop(), "worker", false},
		{zap.NewExample(zap.Fields(zap.String("worker", "x"))), "worker", false}, // not ours: unknown
	} {
		if got := HasField(tc.l, tc.key); got != tc.want {
			t.Errorf("HasField(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestConsoleFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	logger, out, err := New(Options{Format: "console", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	logger.Info("started", zap.Int("workers", 4))
	b, _ := os.ReadFile(path)
	line := string(b)
	// 2025-01-02T03:04:05.678+0000	INFO	logging/logging_test.go:123	started	{"workers": 4}
	f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
	if len(f) != 5 || f[1] != "INFO" || f[3] != "started" || f[4] != `{"workers": 4}` {
		t.Fatalf("console line %q", line)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", f[0]); err != nil {
		t.Fatalf("time %q: %v", f[0], err)
	}
}

func TestSetLevel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.log")
	logger, out, err := New(Options{Level: "warn", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	logger.Info("one")
	if err := out.SetLevel("debug"); err != nil {
		t.Fatal(err)
	}
	logger.Debug("two")
	if err := out.SetLevel("loud"); err == nil {
		t.Fatal("SetLevel(loud) succeeded")
	}
	if out.Level().Level() != zapcore.DebugLevel {
		t.Fatal("a bad SetLevel changed the level")
	}
	out.Level().SetLevel(zapcore.ErrorLevel)
	logger.Warn("three")
	logger.Error("four")
	if got := msgs(readLog(t, path)); strings.Join(got, ",") != "two,four" {
		t.Fatalf("messages %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		level, format, want string
	}{
		{"verbose", "json", `unknown log level "verbose" (want debug, info, warn or error)`},
		{"INFO", "json", `unknown log level "INFO"`},
		{"fatal", "", `unknown log level "fatal"`},
		{"info", "xml", `unknown log format "xml"`},
		{"", "JSON", `unknown log format "JSON" (want json or console)`},
	} {
		path := filepath.Join(t.TempDir(), "never.log")
		_, _, err := New(Options{Level: tc.level, Format: tc.format, Path: path})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("New(%q, %q) = %v, want %q", tc.level, tc.format, err, tc.want)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Fatal("a bad option still created the log file")
		}
		if _, _, err := FromFile(os.Stderr, tc.level, tc.format); err == nil {
			t.Fatalf("FromFile(%q, %q) succeeded", tc.level, tc.format)
		}
	}
	for in, want := range map[string]zapcore.Level{"": zapcore.InfoLevel, "debug": zapcore.DebugLevel, "info": zapcore.InfoLevel, "warn": zapcore.WarnLevel, "error": zapcore.ErrorLevel} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Fatalf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if f, err := ParseFormat(""); err != nil || f != FormatJSON {
		t.Fatalf("ParseFormat(\"\") = %q, %v", f, err)
	}
	_, _, err := New(Options{Path: filepath.Join(t.TempDir(), "no", "such", "dir.log")})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "logging: open log file") {
		t.Fatalf("New in a missing directory = %v", err)
	}
	if _, _, err := FromFile(nil, "", ""); err == nil {
		t.Fatal("FromFile(nil) succeeded")
	}
}

// logrotate renames the file, then workermand reopen: old lines stay in the
// renamed file, including those written between the rename and the reopen,
// and new ones go to a new file at the path.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	logger, out, err := New(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	logger.Info("a")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	logger.Info("b")
	old := out.File()
	if err := out.Reopen(); err != nil {
		t.Fatal(err)
	}
	if out.File() == old {
		t.Fatal("Reopen kept the old file")
	}
	if _, err := old.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("old file not closed: %v", err)
	}
	logger.Info("c")
	if got := msgs(readLog(t, path+".1")); strings.Join(got, ",") != "a,b" {
		t.Fatalf("rotated file: %v", got)
	}
	if got := msgs(readLog(t, path)); strings.Join(got, ",") != "c" {
		t.Fatalf("new file: %v", got)
	}

	// A failed reopen keeps logging to the current file.
	os.Remove(path)
	os.Mkdir(path, 0o755) // the path is now a directory: open fails
	if err := out.Reopen(); err == nil {
		t.Fatal("Reopen onto a directory succeeded")
	}
	logger.Info("d")
	os.Remove(path)
	os.Rename(path+".1", path+".2")
	if got := msgs(readLog(t, path+".2")); strings.Join(got, ",") != "a,b" {
		t.Fatalf("rotated file changed: %v", got)
	}
}

// Writers never stop while the file is renamed and reopened over and over;
// every line must land, whole, in exactly one of the files. Run with -race.
func TestConcurrentWritesDuringReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "busy.log")
	logger, out, err := New(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	const writers, lines, reopens = 8, 2000, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			l := logger.With(zap.Int("w", w))
			for i := range lines {
				l.Info("line", zap.Int("i", i))
			}
		})
	}
	for r := range reopens {
		if err := os.Rename(path, filepath.Join(dir, fmt.Sprintf("busy.log.%d", r))); err != nil {
			t.Fatal(err)
		}
		if err := out.Reopen(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // spreads the reopens over the writing
	}
	wg.Wait()
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "busy.log*"))
	seen := make(map[[2]int]bool)
	used := 0
	for _, f := range files {
		es := readLog(t, f) // fails on a torn line
		if len(es) > 0 {
			used++
		}
		for _, e := range es {
			k := [2]int{int(e["w"].(float64)), int(e["i"].(float64))}
			if seen[k] {
				t.Fatalf("line %v twice", k)
			}
			seen[k] = true
		}
	}
	if len(seen) != writers*lines {
		t.Fatalf("%d lines of %d", len(seen), writers*lines)
	}
	t.Logf("%d lines over %d files (%d non-empty)", len(seen), len(files), used)
}

func TestSwapAndClose(t *testing.T) {
	dir := t.TempDir()
	a, _ := os.Create(filepath.Join(dir, "a.log"))
	b, _ := os.Create(filepath.Join(dir, "b.log"))
	logger, out, err := FromFile(a, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("1")
	if err := out.Reopen(); err != nil || out.File() != a {
		t.Fatalf("Reopen without a path: %v, file changed: %v", err, out.File() != a)
	}
	if err := out.Swap(b); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(nil); !errors.Is(err, os.ErrClosed) {
		t.Fatal("Swap did not close the previous file")
	}
	logger.Debug("2")
	if err := out.Swap(b); err != nil { // same file: kept open
		t.Fatal(err)
	}
	logger.Debug("3")
	if err := out.Swap(nil); err == nil {
		t.Fatal("Swap(nil) succeeded")
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if got := msgs(readLog(t, a.Name())); strings.Join(got, ",") != "1" {
		t.Fatalf("a: %v", got)
	}
	if got := msgs(readLog(t, b.Name())); strings.Join(got, ",") != "2,3" {
		t.Fatalf("b: %v", got)
	}
}

// Stderr is never closed, Reopen on it does nothing, and Sync on a pipe or
// terminal (EINVAL from fsync) is not an error.
func TestStderrAndPipes(t *testing.T) {
	logger, out, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.File() != os.Stderr || out.Path() != "" {
		t.Fatal("Path \"\" is not stderr")
	}
	if err := out.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := logger.Sync(); err != nil {
		t.Fatalf("Sync on stderr: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stderr.Stat(); err != nil {
		t.Fatalf("Close closed stderr: %v", err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := w.Sync(); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("fsync on a pipe = %v; the test assumes EINVAL", err)
	}
	logger, out, err = FromFile(w, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("through a pipe")
	if err := logger.Sync(); err != nil {
		t.Fatalf("Sync on a pipe: %v", err)
	}
	out.Close()
	b, _ := bufio.NewReader(r).ReadString('\n')
	if !strings.Contains(b, "through a pipe") {
		t.Fatalf("pipe got %q", b)
	}

	// A real failure is reported: Sync after Close.
	f, err := os.Create(filepath.Join(t.TempDir(), "f.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ = FromFile(f, "", "")
	out.Close()
	if err := out.Sync(); !errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), "logging: sync") {
		t.Fatalf("Sync after Close = %v, want a wrapped ErrClosed", err)
	}
}

func TestRedirectStdLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "std.log")
	logger, out, err := New(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	restore := RedirectStdLog(logger)
	log.Print("from the log package")
	restore()
	log.SetOutput(os.Stderr)
	es := readLog(t, path)
	if len(es) != 1 || es[0]["msg"] != "from the log package" || es[0]["logger"] != "stdlog" || es[0]["level"] != "info" {
		t.Fatalf("entries %v", es)
	}
	if c, _ := es[0]["caller"].(string); !strings.HasPrefix(c, "logging/logging_test.go:") {
		t.Fatalf("caller %q: the redirect must point at the log.Print call", c)
	}
}

// The master/child protocol end to end, with a real child process: the
// child logs through the inherited descriptor, the master rotates and
// reopens, sends the new descriptor over a socketpair, the child Swaps it.
func TestChildGetsReopenedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shared.log")
	logger, out, err := New(Options{Path: path, Fields: []zap.Field{zap.String("role", "master")}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	master, childEnd := os.NewFile(uintptr(fds[0]), "master"), os.NewFile(uintptr(fds[1]), "child")
	defer master.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = []*os.File{out.File(), childEnd}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	logger.Info("master before")
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	if n, err := master.Read(buf); err != nil || string(buf[:n]) != "logged" {
		t.Fatalf("child: %q, %v", buf[:n], err)
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := out.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Sendmsg(fds[0], []byte("reopen"), unix.UnixRights(int(out.File().Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	logger.Info("master after")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	child := float64(cmd.Process.Pid)

	old, cur := readLog(t, path+".1"), readLog(t, path)
	if got := msgs(old); len(got) != 2 || !strings.Contains(strings.Join(got, ","), "before reopen") || !strings.Contains(strings.Join(got, ","), "master before") {
		t.Fatalf("rotated file: %v", got)
	}
	if got := msgs(cur); len(got) != 2 || !strings.Contains(strings.Join(got, ","), "after reopen") || !strings.Contains(strings.Join(got, ","), "master after") {
		t.Fatalf("new file: %v", got)
	}
	for _, e := range append(old, cur...) {
		if strings.HasSuffix(e["msg"].(string), "reopen") && (e["pid"] != child || e["role"] != "child") {
			t.Fatalf("child entry %v, want pid %v", e, child)
		}
	}
}
