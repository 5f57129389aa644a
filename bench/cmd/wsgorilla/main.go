// Command wsgorilla is the gorilla/websocket echo server on net/http that
// wsbench compares workermand with: go run ./cmd/wsgorilla -addr 127.0.0.1:9000
// (add -cert FILE -key FILE for wss://, as tlsbench runs it).
// Run it with GOMAXPROCS=1 for the benchmark's one-core setting (wsbench does).
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/runner"
	"github.com/workermand/workermand/bench/internal/wsserver"
)

func main() { runner.Exit("wsgorilla", wsserver.Main("gorilla", os.Args[1:])) }
