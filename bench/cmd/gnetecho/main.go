// Command gnetecho is the reference line-echo server built on gnet v2 with a
// single event loop. Run it with GOMAXPROCS=1 for a one-core comparison.
//
//	gnetecho -addr 127.0.0.1:9000
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/workermand/workermand/bench/internal/echoserver"
)

func main() {
	if err := echoserver.Main("gnet", os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gnetecho:", err)
		os.Exit(1)
	}
}
