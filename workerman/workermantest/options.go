package workermantest

import (
	"testing"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/workerman"
)

// DecodeTOML returns a decoder for workerman.NewHandler that fills a
// handler's options from a TOML document, as a config file's
// [worker.options] table would, rejecting keys the handler does not have:
//
//	h, err := workerman.NewHandler("greeter", workermantest.DecodeTOML(`greeting = "hi"`))
func DecodeTOML(doc string) func(options any) error { return config.DecodeOptions(doc) }

// HandlerWorker returns a worker named name on listen served by the
// registered handler with the options of the TOML document, as a config
// file's [[worker]] with handler and [worker.options] makes it; it fails t
// when the handler refuses them. Start it with Start.
func HandlerWorker(t testing.TB, handler, name, listen, options string) *workerman.Worker {
	t.Helper()
	h, err := workerman.NewHandler(handler, DecodeTOML(options))
	if err != nil {
		t.Fatalf("handler %q: %v", handler, err)
	}
	w := workerman.NewWorker(listen)
	w.Name = name
	w.Handler = h
	return w
}
