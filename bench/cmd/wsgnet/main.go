// Command wsgnet is the minimal websocket echo server on one gnet v2 loop that
// wsbench compares workermand with: go run ./cmd/wsgnet -addr 127.0.0.1:9000.
// Run it with GOMAXPROCS=1 for the benchmark's one-core setting (wsbench does).
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

func main() { runner.Exit("wsgnet", wsserver.Main("gnet", os.Args[1:])) }
