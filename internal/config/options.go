package config

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// DecodeOptions returns a decoder for a handler's options written as a
// TOML document on their own (`serve --options`, tests), rejecting keys the
// handler does not have as a config file's [worker.options] does.
func DecodeOptions(doc string) func(options any) error {
	return func(options any) error {
		md, err := toml.Decode(doc, options)
		if err != nil {
			return fmt.Errorf("decode options: %w", err)
		}
		if extra := md.Undecoded(); len(extra) > 0 {
			keys := make([]string, len(extra))
			for i, k := range extra {
				keys[i] = k.String()
			}
			return fmt.Errorf("unknown option(s): %s", strings.Join(keys, ", "))
		}
		return nil
	}
}
