package runner

import (
	"fmt"
	"maps"
	"strings"
)

// SplitArgs splits a command template into arguments the way a POSIX shell
// splits words, for the subset the templates need: blanks separate words,
// '...' keeps everything literally, "..." keeps everything but \" and \\,
// and a backslash outside quotes escapes the next character. The
// workermand templates carry TOML with spaces and double quotes inside
// single quotes, which is why a plain strings.Fields is not enough.
func SplitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash in %q", s)
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// ExpandCommand makes a command line of a template: it splits tmpl like a
// shell (SplitArgs), then replaces each {name} in each word with
// vars[name]; substituting after splitting keeps a path with blanks in one
// word.
func ExpandCommand(tmpl string, vars map[string]string) ([]string, error) {
	words, err := SplitArgs(tmpl)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("the command is empty")
	}
	var pairs []string
	for k, v := range vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	r := strings.NewReplacer(pairs...)
	for i, w := range words {
		words[i] = r.Replace(w)
	}
	return words, nil
}

// WorkermandArgv expands a -workermand-cmd template for a server on addr:
// {workermand} is the binary, {self} the driver itself, {addr} host:port
// and {port} the port; more names other words.
func WorkermandArgv(tmpl, workermand, self, addr string, more map[string]string) ([]string, error) {
	_, port, _ := strings.Cut(addr, ":")
	vars := map[string]string{"workermand": workermand, "self": self, "addr": addr, "port": port}
	maps.Copy(vars, more)
	argv, err := ExpandCommand(tmpl, vars)
	if err != nil {
		return nil, fmt.Errorf("workermand command: %w", err)
	}
	return argv, nil
}
