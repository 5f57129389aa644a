package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/config"
)

// httpTable stands for workerman.CheckProtocolTable: a value the decoder
// accepts but the protocol rejects is returned as a *config.KeyError, and
// it is checked even when the table also has a typo.
func httpTable(scheme, table string, decode func(any) error) error {
	var o struct {
		HeaderTimeout time.Duration `toml:"header_timeout"`
		Server        string        `toml:"server"`
	}
	err := decode(&o)
	if err != nil && !config.OnlyUnknownKeys(err) {
		return err
	}
	var verr error
	if o.HeaderTimeout > 0 && o.HeaderTimeout < time.Millisecond {
		verr = &config.KeyError{Key: "header_timeout", Msg: "write a duration with a unit"}
	}
	return errors.Join(err, verr)
}

func TestProtocolTableProblemsAtTheirKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{{
		name: "bad value and a typo",
		body: "header_timeout = 5\nsevrer = \"x\"\n",
		want: []string{
			`t.toml:5: worker[0].http.header_timeout: write a duration with a unit`,
			`t.toml:6: worker[0].http.sevrer: unknown key (did you mean "server"?)`,
		},
	}, {
		name: "bad value alone",
		body: "server = \"x\"\nheader_timeout = 5\n",
		want: []string{`t.toml:6: worker[0].http.header_timeout: write a duration with a unit`},
	}, {
		// A value of the wrong type is not checked further: it did not
		// decode, so the hook would see its zero value.
		name: "wrong type",
		body: "header_timeout = 5\nserver = 1\n",
		want: []string{`t.toml:6: worker[0].http.server: `},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := "[[worker]]\nname = \"w\"\nlisten = \"http://127.0.0.1:0\"\n[worker.http]\n" + tc.body
			_, err := config.Parse([]byte(src), "t.toml", config.Hooks{ProtocolTable: httpTable})
			var errs *config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse: %v; want problems", err)
			}
			// The http protocol is not registered in this test binary (the
			// golden files list the registered ones): its listen is a
			// problem too, not looked at here.
			var got []string
			for _, p := range errs.Problems {
				if strings.HasPrefix(p.Key, "worker[0].http") {
					got = append(got, p.String())
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}

func TestOnlyUnknownKeys(t *testing.T) {
	var seen error
	hooks := config.Hooks{ProtocolTable: func(_, _ string, decode func(any) error) error {
		seen = decode(&struct {
			Server string `toml:"server"`
		}{})
		return seen
	}}
	for _, tc := range []struct {
		body string
		want bool
	}{
		{"sevrer = \"x\"\n", true},
		{"server = 1\n", false},
		{"server = 1\nsevrer = \"x\"\n", false},
	} {
		seen = nil
		src := "[[worker]]\nname = \"w\"\nlisten = \"http://127.0.0.1:0\"\n[worker.http]\n" + tc.body
		if _, err := config.Parse([]byte(src), "t.toml", config.Hooks{ProtocolTable: hooks.ProtocolTable}); err == nil {
			t.Fatalf("%q: no problem reported", tc.body)
		}
		if got := config.OnlyUnknownKeys(seen); got != tc.want {
			t.Errorf("%q: OnlyUnknownKeys(%v) = %v, want %v", tc.body, seen, got, tc.want)
		}
	}
	if config.OnlyUnknownKeys(nil) || config.OnlyUnknownKeys(errors.New("x")) {
		t.Error("OnlyUnknownKeys is true for an error that is not a decode's")
	}
}
