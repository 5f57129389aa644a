// Command netecho is the reference line-echo server built on the standard
// net package, one goroutine per connection. Run it with GOMAXPROCS=1 for a
// one-core comparison.
//
//	netecho -addr 127.0.0.1:9000
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/workermand/workermand/bench/internal/echoserver"
)

func main() {
	if err := echoserver.Main("net", os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "netecho:", err)
		os.Exit(1)
	}
}
