package wsserver

import (
	"context"
	"flag"
	"fmt"

	"github.com/workermand/workermand/bench/internal/serve"
)

// Main is the command line of the servers; kind is "gorilla", "gnet" or
// "gnet-fanout" (the broadcast peer of cmd/fanout).
// gorilla serves wss:// when given -cert and -key. They run until
// SIGTERM or SIGINT.
func Main(kind string, args []string) error {
	switch kind {
	case "gnet":
		return serve.Main("wsgnet", "127.0.0.1:9000", args, nil, ServeGnet)
	case "gnet-fanout":
		return serve.Main("fanoutgnet", "127.0.0.1:9000", args, nil, ServeGnetFanout)
	case "gorilla":
		var cert, key string
		return serve.Main("wsgorilla", "127.0.0.1:9000", args, func(fs *flag.FlagSet) {
			fs.StringVar(&cert, "cert", "", "PEM `file` of a certificate: serve wss:// (with -key)")
			fs.StringVar(&key, "key", "", "PEM `file` of the certificate's key")
		}, func(ctx context.Context, addr string, ready func()) error {
			if (cert == "") != (key == "") {
				return fmt.Errorf("wsgorilla: -cert and -key go together")
			}
			return serveGorilla(ctx, addr, cert, key, ready)
		})
	}
	return fmt.Errorf("unknown server kind %q", kind)
}
