// Command gnethttp is the reference "hello world" HTTP server built on gnet
// v2 with a single event loop and a minimal request-head parser. Run it
// with GOMAXPROCS=1 for a one-core comparison.
//
//	gnethttp -addr 127.0.0.1:8080
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/httpserver"
	"github.com/workermand/workermand/bench/internal/runner"
)

func main() { runner.Exit("gnethttp", httpserver.Main("gnet", os.Args[1:])) }
