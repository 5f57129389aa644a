package codec_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/workermand/workermand/codec"
)

// The registry is process-wide and Register refuses a name twice, so every
// test run (go test -count=N) registers fresh names.
var runID atomic.Int64

func uniqueName(base string) string {
	return fmt.Sprintf("%s-test%d", base, runID.Add(1))
}

// testCodec is a codec that remembers which protocol made it.
type testCodec struct{ tag string }

func (testCodec) Input(b []byte) (int, error) { return len(b), nil }
func (testCodec) Decode(p []byte) (codec.Message, error) {
	return codec.Message{Data: p, Kind: codec.KindData}, nil
}
func (testCodec) Encode(dst, p []byte) ([]byte, error) { return append(dst, p...), nil }

func protocolTagged(tag string) codec.Protocol {
	return codec.ProtocolFunc(func(codec.Conn) codec.Codec { return testCodec{tag: tag} })
}

func tagOf(t *testing.T, p codec.Protocol) string {
	t.Helper()
	c, ok := p.NewCodec(nil).(testCodec)
	if !ok {
		t.Fatalf("protocol made %T, want testCodec", p.NewCodec(nil))
	}
	return c.tag
}

func mustPanic(t *testing.T, what string, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("%s did not panic", what)
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

func TestRegisterLookup(t *testing.T) {
	name := uniqueName("proto")
	if _, ok := codec.Lookup(name); ok {
		t.Fatalf("Lookup(%q) found a protocol before Register", name)
	}
	codec.Register(name, protocolTagged("first"))
	p, ok := codec.Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) after Register failed", name)
	}
	if tag := tagOf(t, p); tag != "first" {
		t.Fatalf("Lookup(%q) made a codec of protocol %q, want first", name, tag)
	}
	if !slices.Contains(codec.Names(), name) {
		t.Errorf("Names() = %q lacks %q", codec.Names(), name)
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	name := uniqueName("dup")
	codec.Register(name, protocolTagged("first"))
	msg := mustPanic(t, "second Register", func() { codec.Register(name, protocolTagged("second")) })
	if !strings.Contains(msg, strconv.Quote(name)) {
		t.Errorf("panic %q does not name the protocol %q", msg, name)
	}
	// The first registration stays in force.
	p, ok := codec.Lookup(name)
	if !ok || tagOf(t, p) != "first" {
		t.Errorf("after the duplicate, Lookup(%q) = %v, %v; want the first protocol", name, p, ok)
	}
	if n := strings.Count(strings.Join(codec.Names(), "\n")+"\n", name+"\n"); n != 1 {
		t.Errorf("Names() lists %q %d times", name, n)
	}
}

func TestRegisterEmptyNameOrNilPanics(t *testing.T) {
	before := codec.Names()
	mustPanic(t, `Register("")`, func() { codec.Register("", protocolTagged("x")) })
	mustPanic(t, "Register(nil protocol)", func() { codec.Register(uniqueName("nil"), nil) })
	if _, ok := codec.Lookup(""); ok {
		t.Error(`Lookup("") found a protocol`)
	}
	if after := codec.Names(); !slices.Equal(before, after) {
		t.Errorf("failed registrations changed Names(): %q → %q", before, after)
	}
}

func TestNamesSorted(t *testing.T) {
	// Registered out of order; listed in order.
	zz, aa, mm := uniqueName("zz"), uniqueName("aa"), uniqueName("mm")
	for _, n := range []string{zz, aa, mm} {
		codec.Register(n, protocolTagged(n))
	}
	names := codec.Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %q is not sorted", names)
	}
	ia, im, iz := slices.Index(names, aa), slices.Index(names, mm), slices.Index(names, zz)
	if ia < 0 || im < 0 || iz < 0 || !(ia < im && im < iz) {
		t.Errorf("Names() = %q; want %q, %q, %q in that order", names, aa, mm, zz)
	}
	// The result is the caller's: changing it does not change the registry.
	names[0] = "changed"
	if codec.Names()[0] == "changed" {
		t.Error("Names() returns the registry's own slice")
	}
}

// Protocols may be registered while others are looked up (plugins loaded at
// run time); run under -race this checks the registry's locking.
func TestRegistryConcurrent(t *testing.T) {
	const n = 16
	names := make([]string, n)
	for i := range names {
		names[i] = uniqueName("conc")
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codec.Register(names[i], protocolTagged(names[i])) })
		wg.Go(func() {
			codec.Lookup(names[(i+1)%n])
			_ = codec.Names()
		})
	}
	wg.Wait()
	for _, name := range names {
		p, ok := codec.Lookup(name)
		if !ok || tagOf(t, p) != name {
			t.Errorf("Lookup(%q) = %v, %v after concurrent registration", name, p, ok)
		}
	}
}

func TestProtocolFunc(t *testing.T) {
	var got codec.Conn = fakeConn{}
	var seen codec.Conn
	p := codec.ProtocolFunc(func(c codec.Conn) codec.Codec {
		seen = c
		return testCodec{tag: "f"}
	})
	if c := p.NewCodec(got); c != (testCodec{tag: "f"}) {
		t.Errorf("NewCodec returned %v", c)
	}
	if seen != got {
		t.Errorf("the function got conn %v, want %v", seen, got)
	}
}

type fakeConn struct{ codec.Conn }

// Package codec is public so that programs can add protocols; it must stay a
// leaf that imports nothing from workermand.
func TestCodecIsALeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/workermand/workermand") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}

func TestDefaultMaxPackageSize(t *testing.T) {
	// Workerman's documented default: 10 MiB.
	if codec.DefaultMaxPackageSize != 10*1024*1024 {
		t.Errorf("DefaultMaxPackageSize = %d, want 10 MiB", codec.DefaultMaxPackageSize)
	}
}
