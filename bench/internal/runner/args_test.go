package runner

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`{workermand} serve --listen http://{addr} --handler respond --options 'body = "Hello, World!"'`,
			[]string{"{workermand}", "serve", "--listen", "http://{addr}", "--handler", "respond", "--options", `body = "Hello, World!"`}},
		{`a  "b c" d\ e "x\"y\\z" ''`, []string{"a", "b c", "d e", `x"y\z`, ""}},
		{`pre'fix 'post`, []string{"prefix post"}},
		{"", nil},
	} {
		got, err := SplitArgs(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`a 'b`, `a "b`, `a\`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q): no error", bad)
		}
	}
}

func FuzzSplitArgs(f *testing.F) {
	f.Add(`a 'b c' "d\"e" f\ g`)
	f.Add(`'`)
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitArgs(s)
		if err != nil {
			return
		}
		// Re-quoting every argument must give the same split back.
		var joined string
		for i, a := range args {
			if i > 0 {
				joined += " "
			}
			joined += "'" + escapeSingle(a) + "'"
		}
		again, err := SplitArgs(joined)
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("%q → %q → %q → %q, %v", s, args, joined, again, err)
		}
	})
}

// escapeSingle quotes a for use inside '...' the shell way: end the quote,
// an escaped quote, reopen.
func escapeSingle(a string) string {
	return strings.ReplaceAll(a, "'", `'\''`)
}
