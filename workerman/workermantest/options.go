package workermantest

import "github.com/workermand/workermand/internal/config"

// DecodeTOML returns a decoder for workerman.NewHandler that fills a
// handler's options from a TOML document, as a config file's
// [worker.options] table would, rejecting keys the handler does not have:
//
//	h, err := workerman.NewHandler("greeter", workermantest.DecodeTOML(`greeting = "hi"`))
func DecodeTOML(doc string) func(options any) error { return config.DecodeOptions(doc) }
