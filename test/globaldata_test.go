package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/globaldata"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// phpGlobalData runs testdata/globaldata_client.php, a GlobalData client
// written in PHP from Workerman's wire format, and returns its lines by
// step name (a name printed twice keeps the last).
func phpGlobalData(t *testing.T, phase string, addrs ...string) (map[string]string, []string) {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" {
			t.Fatalf("php-cli is required (WORKERMAND_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skip("php-cli is not installed")
	}
	script, err := filepath.Abs("testdata/globaldata_client.php")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, php, append([]string{"-d", "serialize_precision=-1", script, phase}, addrs...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php %s: %v\n%s", phase, err, out)
	}
	m := map[string]string{}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		name, v, _ := strings.Cut(l, " ")
		m[name] = v
		lines = append(lines, l)
	}
	return m, lines
}

func checkPHP(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("PHP step %s: %q, want %q", k, g, w)
		}
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := phpserialize.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGlobalDataPHP runs the stock daemon with two globaldata workers and
// has a PHP client and the Go clients share values through them, both
// ways, with keys sharded over the two as Workerman's client shards them.
func TestGlobalDataPHP(t *testing.T) {
	d := newDaemon(t, stockBin)
	addrs := []string{"127.0.0.1:" + itoa(freePort(t)), "127.0.0.1:" + itoa(freePort(t))}
	d.writeConfig(
		worker("gd0", "frame://"+addrs[0], "globaldata", 1, "reloadable = false"),
		worker("gd1", "frame://"+addrs[1], "globaldata", 1, "reloadable = false"),
	)
	d.start()
	d.waitReady("gd0", 1)
	d.waitReady("gd1", 1)

	got, lines := phpGlobalData(t, "write", addrs...)
	checkPHP(t, got, map[string]string{
		"get-absent":      "N;",
		"set-str":         "b:1;",
		"get-str":         "s:11:\"hello\x00world\";",
		"incr":            "i:42;",
		"incr-float":      "b:0;",
		"incr-step-float": "d:0.30000000000000004;",
		"incr-numstr":     "i:15;",
		"incr-word":       "i:3;",
		"add-existing":    "b:0;",
		"add-new":         "b:1;",
		"cas":             "b:1;",
		"cas-stale":       "b:0;",
		"cas-absent":      "b:1;",
		"get-after-cas":   `a:2:{s:1:"v";i:2;s:1:"f";d:0.30000000000000004;}`,
		"delete":          "b:1;",
		"get-deleted":     "N;",
		"after-ping":      "i:42;",
	})
	if got["get-nested"] != got["local-nested"] || got["get-nested"] == "" {
		t.Errorf("the nested array came back as %s; PHP's serialize() of it is %s", got["get-nested"], got["local-nested"])
	}

	// The Go clients read what PHP wrote, from the server PHP chose.
	ctx := context.Background()
	sc, err := globaldata.Dial(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for key, want := range map[string]any{"php_str": "hello\x00world", "php_int": int64(42), "php_float": 0.30000000000000004, "php_numstr": int64(15)} {
		if v, err := sc.Get(ctx, key); v != want || err != nil {
			t.Errorf("Go Get(%s) = %#v, %v; want %#v", key, v, err, want)
		}
	}
	var singles []*globaldata.SyncClient
	for _, a := range addrs {
		s, err := globaldata.Dial(a)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		singles = append(singles, s)
	}
	shards := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "shard" {
			continue
		}
		shards++
		i, _ := strconv.Atoi(f[2])
		for j, s := range singles {
			v, err := s.Get(ctx, f[1])
			if err != nil {
				t.Fatal(err)
			}
			if (v == f[1]) != (j == i) {
				t.Errorf("PHP put %s on server %d; server %d holds %v", f[1], i, j, v)
			}
		}
		if v, err := sc.Get(ctx, f[1]); v != f[1] || err != nil {
			t.Errorf("Go Get(%s) over both servers = %v, %v", f[1], v, err)
		}
	}
	if shards == 0 {
		t.Error("PHP printed no shard lines")
	}

	// The loop client reads PHP's nested array and swaps it with the value
	// it read as the old one: the digests of Go's and PHP's bytes match.
	lw := workerman.NewWorker("tcp://127.0.0.1:0")
	p := workermantest.Start(t, lw)
	lc := globaldata.New(p.Loop(), addrs...)
	var swapped bool
	var casErr error
	workermantest.OnLoopAsync(t, p.Loop(), func(done func()) {
		lc.Set("loop_nested", map[string]any{"k": []any{1.5, "x"}}, nil)
		lc.Get("php_added", func(v any, err error) {
			if err != nil {
				casErr = err
				done()
				return
			}
			lc.Cas("php_added", v, "swapped by go", func(ok bool, err error) {
				swapped, casErr = ok, err
				done()
			})
		})
	})
	if !swapped || casErr != nil {
		t.Errorf("loop client Cas of PHP's array: %v, %v", swapped, casErr)
	}
	lc.Close()

	// PHP reads what Go wrote, byte for byte, and its cas matches.
	goValues := map[string]any{
		"go_str":    "grüße",
		"go_int":    int64(-7),
		"go_float":  1e-7,
		"go_nested": map[string]any{"a": []any{int64(1), 2.5, nil, true}, "b": map[int]string{3: "three"}},
		"go_list":   []float64{0.1, 0.2, 1e21},
	}
	for k, v := range goValues {
		if err := sc.Set(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = phpGlobalData(t, "read", addrs...)
	want := map[string]string{"cas-go": "b:1;", "get-go-after-cas": `s:8:"from php";`, "incr-go": "i:3;"}
	for k, v := range goValues {
		want[k] = marshal(t, v)
	}
	checkPHP(t, got, want)
	if v, err := sc.Get(ctx, "go_nested"); v != "from php" || err != nil {
		t.Errorf("Go Get after PHP's cas = %v, %v", v, err)
	}

	// Bad requests close the connection with Workerman's replies, and
	// count as protocol errors.
	got, _ = phpGlobalData(t, "bad", addrs...)
	checkPHP(t, got, map[string]string{"bad": `s:11:"bad request";`, "eof": "false", "badcmd": `s:13:"bad cmd flush";`})
	st := d.mustStatus()
	var perr uint64
	for _, p := range st.Processes {
		perr += p.ProtocolErrors
	}
	if perr != 2 {
		t.Errorf("protocol_errors = %d after two bad requests, want 2", perr)
	}
}

// TestGlobalDataSurvives: a globaldata worker with reloadable = false keeps
// its process and data across reload, and with a snapshot file its data
// across restart.
func TestGlobalDataSurvives(t *testing.T) {
	d := newDaemon(t, stockBin)
	addr := "127.0.0.1:" + itoa(freePort(t))
	snap := filepath.Join(d.dir, "gd.ser")
	d.writeConfig(
		worker("gd", "frame://"+addr, "globaldata", 1, "reloadable = false",
			"[worker.options]", fmt.Sprintf("snapshot_file = %q", snap)),
		worker("echo", "text://127.0.0.1:"+itoa(freePort(t)), "echo", 1),
	)
	d.start()
	before := d.waitReady("gd", 1).procs("gd")[0].PID
	d.waitReady("echo", 1)
	written, _ := phpGlobalData(t, "write", addr)
	want := map[string]string{"php_str": written["get-str"], "php_int": "i:42;", "php_nested": written["get-after-cas"]}

	echoBefore := d.mustStatus().procs("echo")[0].PID
	d.mustRun(0, "reload")
	waitFor(t, slow(10*time.Second), "the echo worker reloaded", func() (bool, string) {
		st, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		ps := st.procs("echo")
		return len(ps) == 1 && ps[0].PID != echoBefore && ps[0].Status == "idle", fmt.Sprintf("%+v", ps)
	})
	if after := d.mustStatus().procs("gd")[0].PID; after != before {
		t.Errorf("reload replaced the globaldata process (%d → %d)", before, after)
	}
	got, _ := phpGlobalData(t, "survive", addr)
	checkPHP(t, got, want)

	r := d.run("restart", "-d")
	if r.code != 0 {
		t.Fatalf("restart -d: %s\nlog:\n%s", r, d.logTail())
	}
	d.setMaster(d.pidFromFile())
	after := d.waitReady("gd", 1).procs("gd")[0].PID
	if after == before {
		t.Fatalf("restart kept the globaldata process %d", before)
	}
	got, _ = phpGlobalData(t, "survive", addr)
	checkPHP(t, got, want)
	if _, err := os.Stat(snap); err != nil {
		t.Errorf("snapshot file: %v", err)
	}
}
