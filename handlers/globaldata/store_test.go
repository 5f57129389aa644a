package globaldata

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/workermand/workermand/phpserialize"
)

// req serializes a request array of alternating keys and values.
func req(t testing.TB, kv ...any) []byte {
	t.Helper()
	a := &phpserialize.Array{}
	for i := 0; i+1 < len(kv); i += 2 {
		a.Set(kv[i], kv[i+1])
	}
	b, err := phpserialize.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// do runs one raw request against s: the reply, or the refusal's reply
// string prefixed with "close ".
func do(t *testing.T, s *store, p []byte) string {
	t.Helper()
	r, err := decodeRequest(p)
	var reply []byte
	if err == nil {
		reply, err = s.Do(r)
	}
	if err != nil {
		var bad *refusal
		if !errors.As(err, &bad) {
			t.Fatalf("%q: %v is no *refusal", p, err)
		}
		return "close " + bad.Reply
	}
	return string(reply)
}

// TestCommands runs every command in sequence on one store, with the
// replies Workerman's server gives.
func TestCommands(t *testing.T) {
	s := newStore()
	nested := `a:2:{s:4:"list";a:2:{i:0;d:0.1;i:1;s:1:"x";}s:1:"n";N;}`
	steps := []struct {
		raw  string // a literal request, when set
		kv   []any
		want string
	}{
		{kv: []any{"cmd", "get", "key", "k"}, want: "N;"},
		{kv: []any{"cmd", "set", "key", "k", "value", "v"}, want: "b:1;"},
		{kv: []any{"cmd", "get", "key", "k"}, want: `s:1:"v";`},
		{kv: []any{"cmd", "add", "key", "k", "value", "w"}, want: "b:0;"},
		{kv: []any{"cmd", "add", "key", "new", "value", int64(5)}, want: "b:1;"},
		{kv: []any{"cmd", "increment", "key", "new", "step", int64(2)}, want: "i:7;"},
		{kv: []any{"cmd", "increment", "key", "new", "step", 0.5}, want: "d:7.5;"},
		{kv: []any{"cmd", "increment", "key", "absent", "step", int64(1)}, want: "b:0;"},
		// A value is_numeric() refuses restarts from 0.
		{kv: []any{"cmd", "increment", "key", "k", "step", int64(3)}, want: "i:3;"},
		{kv: []any{"cmd", "delete", "key", "k"}, want: "b:1;"},
		{kv: []any{"cmd", "delete", "key", "k"}, want: "b:1;"},
		{kv: []any{"cmd", "get", "key", "k"}, want: "N;"},
		// cas against null (absent), then against the stored bytes.
		{kv: []any{"cmd", "cas", "md5", md5hex("N;"), "key", "c", "value", int64(1)}, want: "b:1;"},
		{kv: []any{"cmd", "cas", "md5", md5hex("N;"), "key", "c", "value", int64(2)}, want: "b:0;"},
		{kv: []any{"cmd", "cas", "md5", md5hex("i:1;"), "key", "c", "value", int64(2)}, want: "b:1;"},
		{raw: `a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:1:"a";s:5:"value";` + nested + `}`, want: "b:1;"},
		{kv: []any{"cmd", "get", "key", "a"}, want: nested},
		{kv: []any{"cmd", "cas", "md5", md5hex(nested), "key", "a", "value", "done"}, want: "b:1;"},
		{kv: []any{"cmd", "get", "key", "a"}, want: `s:4:"done";`},
		// An md5 that is no string never matches (PHP's ===).
		{kv: []any{"cmd", "cas", "md5", int64(0), "key", "a", "value", "x"}, want: "b:0;"},
		// Integer keys and their decimal strings are one key, as in PHP.
		{kv: []any{"cmd", "set", "key", int64(12), "value", true}, want: "b:1;"},
		{kv: []any{"cmd", "get", "key", "12"}, want: "b:1;"},
		// A stored null is absent for add and increment (isset).
		{kv: []any{"cmd", "set", "key", "z", "value", nil}, want: "b:1;"},
		{kv: []any{"cmd", "increment", "key", "z", "step", int64(1)}, want: "b:0;"},
		{kv: []any{"cmd", "add", "key", "z", "value", "now"}, want: "b:1;"},
		// Overflow makes a float, as PHP's +.
		{kv: []any{"cmd", "set", "key", "big", "value", int64(1<<63 - 1)}, want: "b:1;"},
		{kv: []any{"cmd", "increment", "key", "big", "step", int64(1)}, want: "d:9.223372036854776E+18;"},
		// Bad requests.
		{raw: "", want: "close bad request"},
		{raw: "0", want: "close bad request"},
		{raw: "garbage", want: "close bad request"},
		{raw: `s:3:"get";`, want: "close bad request"},
		{kv: []any{"cmd", "get"}, want: "close bad request"},
		{kv: []any{"key", "k"}, want: "close bad request"},
		{kv: []any{"cmd", nil, "key", "k"}, want: "close bad request"},
		{kv: []any{"cmd", "flush", "key", "k"}, want: "close bad cmd flush"},
		{kv: []any{"cmd", int64(7), "key", "k"}, want: "close bad cmd 7"},
		{kv: []any{"cmd", "get", "key", phpserialize.NewList()}, want: "close bad request"},
		{raw: `a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:1:"o";s:5:"value";O:8:"stdClass":0:{}}`, want: "close bad request"},
		{kv: []any{"cmd", "increment", "key", "new", "step", "abc"}, want: "close bad request"},
		// … but only for a key that exists, as PHP adds only then.
		{kv: []any{"cmd", "increment", "key", "absent", "step", "abc"}, want: "b:0;"},
	}
	for i, st := range steps {
		p := []byte(st.raw)
		if st.kv != nil {
			p = req(t, st.kv...)
		}
		if got := do(t, s, p); got != st.want {
			t.Errorf("step %d %q: got %q, want %q", i, p, got, st.want)
		}
	}
}

// TestNumericStrings checks is_numeric() and the numbers PHP's + makes of
// strings, against php-cli when it is installed.
func TestNumericStrings(t *testing.T) {
	cases := []struct {
		s     string
		n     any
		whole bool
	}{
		{"5", int64(5), true},
		{" 5", int64(5), true},
		{"5 ", int64(5), true},
		{"\t-7\n", int64(-7), true},
		{"+3", int64(3), true},
		{"1e3", 1000.0, true},
		{".5", 0.5, true},
		{"5.", 5.0, true},
		{"007", int64(7), true},
		{"-0", int64(0), true},
		{"9223372036854775808", 9223372036854775808.0, true},
		{"5abc", int64(5), false},
		{"1e", int64(1), false},
		{"0x1A", int64(0), false},
		{"abc", nil, false},
		{"", nil, false},
		{" ", nil, false},
		{".", nil, false},
		{"-", nil, false},
	}
	for _, c := range cases {
		n, whole := parseNumeric(c.s)
		if n != c.n || whole != c.whole {
			t.Errorf("parseNumeric(%q) = %v (%T), %v; want %v (%T), %v", c.s, n, n, whole, c.n, c.n, c.whole)
		}
	}
}

// TestIncrementAgainstPHP runs Workerman's increment (is_numeric or 0,
// then + step) in php-cli for stored values and steps of every kind and
// compares serialize() of PHP's result with the store's reply.
func TestIncrementAgainstPHP(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" {
			t.Fatalf("php-cli is required (WORKERMAND_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skip("php-cli is not installed")
	}
	values := []string{`i:5;`, `i:-5;`, `d:1.5;`, `d:0.1;`, `s:1:"7";`, `s:4:" 7.5";`, `s:3:"1e3";`, `s:3:"abc";`,
		`s:4:"5abc";`, `b:1;`, `a:0:{}`, `i:9223372036854775807;`, `i:-9223372036854775808;`, `s:2:"5.";`}
	steps := []string{`i:1;`, `i:-1;`, `d:0.2;`, `s:1:"2";`, `s:3:"2.5";`, `s:4:"3abc";`, `b:1;`, `N;`, `i:9223372036854775807;`}
	var script strings.Builder
	script.WriteString("<?php\nerror_reporting(0);\n")
	var want []string
	s := newStore()
	for _, v := range values {
		for _, st := range steps {
			script.WriteString("$v = unserialize('" + v + "'); $s = unserialize('" + st + "');\n")
			script.WriteString("if (!is_numeric($v)) { $v = 0; } echo serialize($v + $s), \"\\n\";\n")
			s.m["k"] = []byte(v)
			p := `a:3:{s:3:"cmd";s:9:"increment";s:3:"key";s:1:"k";s:4:"step";` + st + `}`
			want = append(want, v+" + "+st+" = "+do(t, s, []byte(p)))
		}
	}
	cmd := exec.Command(php, "-d", "serialize_precision=-1")
	cmd.Stdin = strings.NewReader(script.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("php printed %d lines for %d cases:\n%s", len(got), len(want), out)
	}
	for i, w := range want {
		op, ours, _ := strings.Cut(w, " = ")
		if ours != got[i] {
			t.Errorf("%s: PHP gives %s, the store %s", op, got[i], ours)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newStore()
	for _, kv := range [][]any{
		{"cmd", "set", "key", "s", "value", "text"},
		{"cmd", "set", "key", int64(42), "value", 1.25},
		{"cmd", "set", "key", "arr", "value", phpserialize.NewList(int64(1), "two", nil)},
		{"cmd", "set", "key", "-0", "value", false},
	} {
		if got := do(t, s, req(t, kv...)); got != "b:1;" {
			t.Fatalf("set: %q", got)
		}
	}
	doc := s.Snapshot()
	want := `a:4:{s:2:"-0";b:0;i:42;d:1.25;s:3:"arr";a:3:{i:0;i:1;i:1;s:3:"two";i:2;N;}s:1:"s";s:4:"text";}`
	if string(doc) != want {
		t.Fatalf("snapshot\n got %s\nwant %s", doc, want)
	}
	l := newStore()
	if err := l.LoadSnapshot(doc); err != nil {
		t.Fatal(err)
	}
	if got := l.Snapshot(); string(got) != want {
		t.Fatalf("reloaded snapshot %s", got)
	}
	if got := do(t, l, req(t, "cmd", "get", "key", "42")); got != "d:1.25;" {
		t.Errorf("get 42 after load: %s", got)
	}
	for _, bad := range []string{"", "i:1;", "a:1:{i:0;O:8:\"stdClass\":0:{}}", "a:1:{i:0;"} {
		if err := newStore().LoadSnapshot([]byte(bad)); err == nil {
			t.Errorf("LoadSnapshot(%q) succeeded", bad)
		}
	}
}

// TestFlatScan: the requests clients send go through the flat scan, and
// nested values through phpserialize's full reader.
func TestFlatScan(t *testing.T) {
	for _, kv := range [][]any{
		{"cmd", "get", "key", "k"},
		{"cmd", "set", "key", "k", "value", "v"},
		{"cmd", "increment", "key", "k", "step", int64(2)},
		{"cmd", "cas", "md5", md5hex("N;"), "key", int64(5), "value", 0.5},
		{"cmd", "add", "key", "k", "value", nil},
	} {
		if _, ok := scanFlat(req(t, kv...)); !ok {
			t.Errorf("%v: not scanned flat", kv)
		}
	}
	if _, ok := scanFlat(req(t, "cmd", "set", "key", "k", "value", phpserialize.NewList(int64(1)))); ok {
		t.Error("a nested value was scanned flat")
	}
}
