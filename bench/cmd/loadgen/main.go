// Command loadgen drives a line-echo server and verifies every reply.
//
//	loadgen -addr 127.0.0.1:9000 -mode reqresp   -conns 100 -duration 5s
//	loadgen -addr 127.0.0.1:9000 -mode pipelined -conns 100 -batch 32
//	loadgen -addr 127.0.0.1:9000 -mode idle      -conns 10000 -hold 30s
//
// It ends with a line "RESULT <json>" on stdout; see -h for all flags.
package main

import (
	"os"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/runner"
)

func main() { runner.Exit("loadgen", loadgen.Main(os.Args[1:])) }
