package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	// File is the file as named by the caller ("" when unknown).
	File string
	// Line is the 1-based line the problem is on (0 when unknown).
	Line int
	// Col is the 1-based column, known only for syntax errors (0 otherwise).
	Col int
	// Key is the key path, like "stop_timeout", "worker[1].cuont" or
	// "worker[0].options.greeting" (worker indices count from 0); "" for
	// problems of the whole file, such as a syntax error.
	Key string
	// Msg says what is wrong.
	Msg string

	cause   error // the underlying error, if any (a failed read)
	unknown bool  // an unknown key or option found by Table.Decode
}

// String formats the problem as "FILE:LINE:COL: KEY: MSG", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if p.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in a config file; Parse and Load return it
// as their error.
type Errors struct {
	Problems []Problem
}

// Error lists the problems, one per line, as Problem.String formats them.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the underlying errors (such as a failed read of the file),
// so errors.Is(err, fs.ErrNotExist) works on the result of Load.
func (e *Errors) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.cause != nil {
			errs = append(errs, p.cause)
		}
	}
	return errs
}

// KeyError is a problem with one key of a table that a hook decodes
// (Hooks.ProtocolTable): returned by the hook, alone or in errors.Join, it
// is reported at that key and its line rather than at the table. Key is
// relative to the table, as in "header_timeout".
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// OnlyUnknownKeys reports whether err is an error of Table.Decode that
// lists unknown keys and nothing else: every other value decoded, so the
// hook can go on and check them.
func OnlyUnknownKeys(err error) bool {
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.Problems) == 0 {
		return false
	}
	for _, p := range errs.Problems {
		if !p.unknown {
			return false
		}
	}
	return true
}

// sortProblems orders problems by line (unknown lines last), keeping the
// order they were found in otherwise.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = 1 << 30
		}
		if lb == 0 {
			lb = 1 << 30
		}
		return cmp.Compare(la, lb)
	})
}
