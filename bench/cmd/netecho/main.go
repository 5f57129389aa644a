// Command netecho is the reference line-echo server built on the standard
// net package, one goroutine per connection. Run it with GOMAXPROCS=1 for a
// one-core comparison.
//
//	netecho -addr 127.0.0.1:9000
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/echoserver"
	"github.com/workermand/workermand/bench/internal/runner"
)

func main() { runner.Exit("netecho", echoserver.Main("net", os.Args[1:])) }
