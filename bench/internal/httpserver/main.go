package httpserver

import (
	"context"
	"flag"
	"fmt"

	"github.com/workermand/workermand/bench/internal/serve"
)

// Main is the command line of both servers; kind is "gnet" or "net".
// They run until SIGTERM or SIGINT.
func Main(kind string, args []string) error {
	switch kind {
	case "gnet":
		return serve.Main("gnethttp", "127.0.0.1:8080", args, nil, ServeGnet)
	case "net":
		var root string
		return serve.Main("nethttp", "127.0.0.1:8080", args, func(fs *flag.FlagSet) {
			fs.StringVar(&root, "root", "", "serve the files under this `dir` instead of "+Body)
		}, func(ctx context.Context, addr string, ready func()) error {
			return ListenAndServeNetHTTP(ctx, addr, root, ready)
		})
	}
	return fmt.Errorf("unknown server kind %q", kind)
}
