// Command wsgorilla is the gorilla/websocket echo server on net/http that
// wsbench compares workermand with: go run ./cmd/wsgorilla -addr 127.0.0.1:9000.
// Run it with GOMAXPROCS=1 for the benchmark's one-core setting (wsbench does).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/workermand/workermand/bench/internal/wsserver"
)

func main() {
	if err := wsserver.Main("gorilla", os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "wsgorilla:", err)
		os.Exit(1)
	}
}
