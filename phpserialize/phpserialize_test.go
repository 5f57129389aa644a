package phpserialize

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// phpValues are PHP expressions and what serialize() makes of them in PHP
// 8 (checked against php-cli by TestAgainstPHP).
var phpValues = []struct {
	expr, wire string
	goValue    any
}{
	{"null", "N;", nil},
	{"true", "b:1;", true},
	{"false", "b:0;", false},
	{"0", "i:0;", int64(0)},
	{"-42", "i:-42;", int64(-42)},
	{"PHP_INT_MAX", "i:9223372036854775807;", int64(math.MaxInt64)},
	{"1.0", "d:1;", 1.0},
	{"0.1", "d:0.1;", 0.1},
	{"-0.0", "d:-0;", math.Copysign(0, -1)},
	{"1e15", "d:1000000000000000;", 1e15},
	{"1e16", "d:10000000000000000;", 1e16},
	{"1e17", "d:1.0E+17;", 1e17},
	{"123456789012345.0", "d:123456789012345;", 123456789012345.0},
	{"1e25", "d:1.0E+25;", 1e25},
	{"1.5e300", "d:1.5E+300;", 1.5e300},
	{"0.0001", "d:0.0001;", 0.0001},
	{"0.00001", "d:1.0E-5;", 0.00001},
	{"1.2345678901234568E+17", "d:1.2345678901234568E+17;", 1.2345678901234568e17},
	{"1/3", "d:0.3333333333333333;", 1.0 / 3},
	{"INF", "d:INF;", math.Inf(1)},
	{"-INF", "d:-INF;", math.Inf(-1)},
	{`"héllo"`, `s:6:"héllo";`, "héllo"},
	{`"a\"b;c"`, `s:5:"a"b;c";`, `a"b;c`},
	{"[]", "a:0:{}", NewList()},
	{"[1, 'x']", `a:2:{i:0;i:1;i:1;s:1:"x";}`, NewList(int64(1), "x")},
	{"['b' => true, 5 => null, 'a' => [2.5]]", `a:3:{s:1:"b";b:1;i:5;N;s:1:"a";a:1:{i:0;d:2.5;}}`, func() *Array {
		a := &Array{}
		a.Set("b", true)
		a.Set(5, nil)
		a.Set("a", NewList(2.5))
		return a
	}()},
}

func TestRoundTrip(t *testing.T) {
	for _, c := range phpValues {
		got, err := Marshal(c.goValue)
		if err != nil || string(got) != c.wire {
			t.Errorf("Marshal(%s) = %q, %v; want %q", c.expr, got, err, c.wire)
		}
		v, err := Unmarshal([]byte(c.wire))
		if err != nil {
			t.Errorf("Unmarshal(%q): %v", c.wire, err)
			continue
		}
		again, err := Marshal(v)
		if err != nil || string(again) != c.wire {
			t.Errorf("Unmarshal then Marshal of %q gives %q, %v", c.wire, again, err)
		}
	}
}

func TestGoTypes(t *testing.T) {
	for _, c := range []struct {
		v    any
		wire string
	}{
		{[]string{"a", "b"}, `a:2:{i:0;s:1:"a";i:1;s:1:"b";}`},
		{map[string]int{"z": 1, "a": 2}, `a:2:{s:1:"a";i:2;s:1:"z";i:1;}`},
		{map[int]bool{10: true, 2: false}, `a:2:{i:2;b:0;i:10;b:1;}`},
		{uint8(7), "i:7;"},
		{float32(0.5), "d:0.5;"},
		{[]byte("raw"), `s:3:"raw";`},
		{map[string]any{"7": "numeric key"}, `a:1:{i:7;s:11:"numeric key";}`},
	} {
		got, err := Marshal(c.v)
		if err != nil || string(got) != c.wire {
			t.Errorf("Marshal(%#v) = %q, %v; want %q", c.v, got, err, c.wire)
		}
	}
	if _, err := Marshal(struct{ A int }{1}); err == nil {
		t.Error("Marshal of a struct succeeded")
	}
	if _, err := Marshal(uint64(math.MaxUint64)); err == nil {
		t.Error("Marshal of a uint64 beyond PHP's int succeeded")
	}
}

func TestRefused(t *testing.T) {
	for _, in := range []string{
		`O:8:"stdClass":0:{}`, `C:3:"Foo":0:{}`, `a:1:{i:0;r:1;}`, `E:7:"Foo:Bar";`,
	} {
		if _, err := Unmarshal([]byte(in)); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Unmarshal(%q): %v, want ErrUnsupported", in, err)
		}
	}
	for _, in := range []string{
		"", "N", "i:;", "i:1", "i:+1;", "b:2;", "d:x;", "d:0x10;", `s:5:"abc";`, `s:-1:"";`,
		`s:3:"abc"`, "a:1:{}", "a:99999999:{", `a:1:{d:1;N;}`, `a:1:{a:0:{}N;}`, "i:1;i:2;", "z:1;",
		strings.Repeat("a:1:{i:0;", 300) + "N;" + strings.Repeat("}", 300),
	} {
		if _, err := Unmarshal([]byte(in)); err == nil {
			t.Errorf("Unmarshal(%q) succeeded", in)
		}
	}
}

// TestAgainstPHP runs php-cli: PHP's serialize() of each expression must
// be our wire form, and PHP must read back what Marshal wrote as the same
// value.
func TestAgainstPHP(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" {
			t.Fatalf("php-cli is required (WORKERMAND_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skip("php-cli is not installed")
	}
	var script bytes.Buffer
	script.WriteString("<?php\n")
	for _, c := range phpValues {
		// One line per value: PHP's serialize, then whether unserialize
		// of our bytes is identical (serialize() of it again compared).
		ours, _ := Marshal(c.goValue)
		script.WriteString("echo base64_encode(serialize(" + c.expr + ")), ' ', serialize(unserialize(base64_decode('" +
			b64(ours) + "'))) === base64_decode('" + b64(ours) + "') ? 'same' : 'differs', \"\\n\";\n")
	}
	cmd := exec.Command(php, "-d", "serialize_precision=-1")
	cmd.Stdin = &script
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(phpValues) {
		t.Fatalf("php printed %d lines for %d values:\n%s", len(lines), len(phpValues), out)
	}
	for i, c := range phpValues {
		enc, verdict, _ := strings.Cut(lines[i], " ")
		if got := unb64(t, enc); got != c.wire {
			t.Errorf("PHP serialize(%s) = %q, our table says %q", c.expr, got, c.wire)
		}
		if verdict != "same" {
			t.Errorf("PHP reads our %q of %s as something else", c.wire, c.expr)
		}
	}
}

func TestTypeName(t *testing.T) {
	for _, c := range phpValues {
		v, err := Unmarshal([]byte(c.wire))
		if err != nil {
			t.Fatal(err)
		}
		want := map[byte]string{'N': "null", 'b': "bool", 'i': "int", 'd': "float", 's': "string", 'a': "array"}[c.wire[0]]
		if got := TypeName(v); got != want {
			t.Errorf("TypeName(%s) = %q, want %q", c.expr, got, want)
		}
	}
}
