package echoserver

import (
	"fmt"

	"github.com/workermand/workermand/bench/internal/serve"
)

// Main is the command line of the servers; kind is "gnet" or "net" (line
// echo over TCP) or "gnetudp" (datagram echo). They run until SIGTERM or
// SIGINT.
func Main(kind string, args []string) error {
	run, ok := map[string]serve.Func{"gnet": ServeGnet, "net": ListenAndServeNet, "gnetudp": ServeGnetUDP}[kind]
	if !ok {
		return fmt.Errorf("unknown server kind %q", kind)
	}
	return serve.Main(kind+"echo", "127.0.0.1:9000", args, nil, run)
}
