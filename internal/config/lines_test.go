package config_test

import (
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/workermand/workermand/internal/config"
)

// TestLineIndex feeds the key → line scanner the TOML that could fool it.
func TestLineIndex(t *testing.T) {
	src := `# [[worker]] in a comment
pid_file = "/run/a.pid" # trailing [[worker]]
"quoted key" = 'lit'
banner = """
[[worker]]
name = "not a key"
"""
raw = '''
x = 1 '''
esc = "a \" [[worker]] = 1"

[[worker]]
name = "a"
listen = "text://0.0.0.0:1"
proxy_protocol = [
  "10.0.0.0/8",
  # a comment
  "::1",
]

[worker.options]
greeting = "x"
table.deep = 1
inline = { a = 1, b = { c = 2 } }

[ worker . http ]
keep_alive = true

[[worker]]
name = "b"
options = { x = [1, 2], "y z" = 3 }
ends = """two"""""

[[ worker ]]
listen = "text://0.0.0.0:3"
when = 1979-05-27 07:32:00Z
list = [ { k = 1 },
         { k = 2 } ]
`
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		t.Fatalf("the test input is not TOML: %v", err)
	}
	got := config.Lines([]byte(src))
	want := map[string]int{
		"pid_file":                     2,
		`"quoted key"`:                 3,
		"banner":                       4,
		"raw":                          8,
		"esc":                          10,
		"worker[0]":                    12,
		"worker[0].name":               13,
		"worker[0].listen":             14,
		"worker[0].proxy_protocol":     15,
		"worker[0].proxy_protocol[0]":  16,
		"worker[0].proxy_protocol[1]":  18,
		"worker[0].options":            21,
		"worker[0].options.greeting":   22,
		"worker[0].options.table":      23,
		"worker[0].options.table.deep": 23,
		"worker[0].options.inline":     24,
		"worker[0].options.inline.a":   24,
		"worker[0].options.inline.b":   24,
		"worker[0].options.inline.b.c": 24,
		"worker[0].http":               26,
		"worker[0].http.keep_alive":    27,
		"worker[1]":                    29,
		"worker[1].name":               30,
		"worker[1].options":            31,
		"worker[1].options.x":          31,
		"worker[1].options.x[0]":       31,
		"worker[1].options.x[1]":       31,
		`worker[1].options."y z"`:      31,
		"worker[1].ends":               32,
		"worker[2]":                    34,
		"worker[2].listen":             35,
		"worker[2].when":               36,
		"worker[2].list":               37,
		"worker[2].list[0]":            37,
		"worker[2].list[0].k":          37,
		"worker[2].list[1]":            38,
		"worker[2].list[1].k":          38,
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: line %d, want %d", k, got[k], v)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected %s: line %d", k, v)
			}
		}
	}
}

// TestLineIndexGarbage: the scanner ends on anything.
func TestLineIndexGarbage(t *testing.T) {
	for _, src := range []string{"", "[", "[[", "\"", `"""`, "'''x", "a = [", "a = {", "a = {b", "= = =", "]]]", "[a.\"b", "a = [{]", "\x00\xff"} {
		config.Lines([]byte(src))
	}
}
