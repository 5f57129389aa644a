// Command gnetecho is the reference line-echo server built on gnet v2 with a
// single event loop. Run it with GOMAXPROCS=1 for a one-core comparison.
//
//	gnetecho -addr 127.0.0.1:9000
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/runner"
)

func main() { runner.Exit("gnetecho", echoserver.Main("gnet", os.Args[1:])) }
