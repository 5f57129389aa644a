// Command nethttp is the reference "hello world" HTTP server built on Go's
// net/http; with -root it serves files instead. Run it with GOMAXPROCS=1
// for a one-core comparison.
//
//	nethttp -addr 127.0.0.1:8080 [-root DIR]
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/httpserver"
	"github.com/workermand/workermand/bench/internal/runner"
)

func main() { runner.Exit("nethttp", httpserver.Main("net", os.Args[1:])) }
