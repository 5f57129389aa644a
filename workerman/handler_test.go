package workerman_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// greeter is a handler with options, registered for these tests.
type greeter struct {
	Greeting string `toml:"greeting"`
	Repeat   int    `toml:"repeat"`
}

var (
	_ workerman.Handler   = (*greeter)(nil)
	_ workerman.Validator = (*greeter)(nil)
)

func init() {
	workerman.RegisterHandler("test-greeter", func() workerman.Handler { return &greeter{Greeting: "hello", Repeat: 1} })
}

func (g *greeter) Validate() error {
	if g.Repeat < 1 || g.Repeat > 10 {
		return fmt.Errorf("repeat = %d: want 1 to 10", g.Repeat)
	}
	return nil
}

func (g *greeter) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		for range g.Repeat {
			c.SendString(g.Greeting + " " + string(m.Data))
		}
	}
	return nil
}

func TestRegisterHandlerPanicsOnBadRegistrations(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func() workerman.Handler
		want string
	}{
		{"echo", func() workerman.Handler { return nil }, `"echo" registered twice`},
		{"test-greeter", func() workerman.Handler { return nil }, `"test-greeter" registered twice`},
		{"", func() workerman.Handler { return nil }, "needs a name"},
		{"test-nil", nil, "constructor"},
	} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			workerman.RegisterHandler(tc.name, tc.fn)
			return "no panic"
		}()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("RegisterHandler(%q): panic %q, want one containing %q", tc.name, msg, tc.want)
		}
	}
	if slices.Contains(workerman.HandlerNames(), "test-nil") || slices.Contains(workerman.HandlerNames(), "") {
		t.Errorf("a refused registration was kept: %q", workerman.HandlerNames())
	}
}

func TestHandlerNamesAndUnknownHandler(t *testing.T) {
	names := workerman.HandlerNames()
	if !slices.IsSorted(names) || !slices.Contains(names, "echo") || !slices.Contains(names, "test-greeter") {
		t.Errorf("HandlerNames() = %q, want a sorted list with echo and test-greeter", names)
	}
	_, err := workerman.NewHandler("no-such-handler", nil)
	if !errors.Is(err, workerman.ErrUnknownHandler) {
		t.Fatalf("NewHandler(unknown) = %v, want ErrUnknownHandler", err)
	}
	for _, want := range []string{`"no-such-handler"`, "echo", "test-greeter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewHandler(unknown) error %q does not mention %s", err, want)
		}
	}
}

func TestNewHandlerDecodesAndValidatesOptions(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // substrings of the error; none for success
	}{
		{"unknown key", "greeting = \"hi\"\ncolour = \"blue\"\n", []string{"test-greeter", "unknown option", "colour"}},
		{"unknown table", "[extra]\nx = 1\n", []string{"unknown option", "extra"}},
		{"wrong type", "repeat = \"twice\"\n", []string{"test-greeter", "repeat"}},
		{"bad TOML", "greeting = \n", []string{"test-greeter"}},
		{"fails Validate", "repeat = 0\n", []string{"test-greeter", "repeat = 0"}},
		{"valid", "greeting = \"hi\"\nrepeat = 2\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := workerman.NewHandler("test-greeter", workermantest.DecodeTOML(tc.doc))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("NewHandler: %v", err)
				}
				if g := h.(*greeter); g.Greeting != "hi" || g.Repeat != 2 {
					t.Errorf("decoded %+v, want greeting hi, repeat 2", *g)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewHandler with %q succeeded, want an error", tc.doc)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	if _, err := workerman.NewHandler("echo", workermantest.DecodeTOML("verbose = true\n")); err == nil || !strings.Contains(err.Error(), "verbose") {
		t.Errorf("echo with an option: %v, want an error naming the option", err)
	}
}

// TestHandlerAttachesToWorker: a handler built from options serves a
// worker; the defaults apply without a decoder; each NewHandler is a fresh
// value.
func TestHandlerAttachesToWorker(t *testing.T) {
	h, err := workerman.NewHandler("test-greeter", workermantest.DecodeTOML("greeting = \"hi\"\nrepeat = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := workerman.NewHandler("test-greeter", nil)
	if err != nil {
		t.Fatal(err)
	}
	w1, w2 := textWorker("greeter-2"), textWorker("greeter-default")
	w1.Handler, w2.Handler = h, def
	workermantest.Start(t, w1, w2)
	c := dialWorker(t, w1)
	c.write("bob\n")
	c.expectLine("hi bob")
	c.expectLine("hi bob")
	c = dialWorker(t, w2)
	c.write("bob\n")
	c.expectLine("hello bob")
}
