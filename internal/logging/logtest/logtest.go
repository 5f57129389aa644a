// Package logtest helps tests check what the loggers write.
package logtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// DuplicateKey returns the first key that appears twice in one object of
// the JSON text line, at any depth, or an error when line is not one JSON
// object.
func DuplicateKey(line []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	var value func(tok json.Token) (string, error)
	value = func(tok json.Token) (string, error) {
		if tok != json.Delim('{') && tok != json.Delim('[') {
			return "", nil
		}
		seen := map[string]bool{}
		for dec.More() {
			if tok == json.Delim('{') {
				k, err := dec.Token()
				if err != nil {
					return "", err
				}
				key := k.(string)
				if seen[key] {
					return key, nil
				}
				seen[key] = true
			}
			next, err := dec.Token()
			if err != nil {
				return "", err
			}
			if dup, err := value(next); dup != "" || err != nil {
				return dup, err
			}
		}
		_, err := dec.Token() // the closing delimiter
		return "", err
	}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("not a JSON object: %q", line)
	}
	dup, err := value(tok)
	if err != nil {
		return "", fmt.Errorf("%q: %w", line, err)
	}
	if dup != "" {
		return dup, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", fmt.Errorf("%q: more than one JSON value", line)
	}
	return dup, nil
}
