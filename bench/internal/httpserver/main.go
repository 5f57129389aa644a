package httpserver

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Main is the command line of both servers; kind is "gnet" or "net".
// They run until SIGTERM or SIGINT.
func Main(kind string, args []string) error {
	fs := flag.NewFlagSet(kind+"http", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `host:port`")
	var root *string
	if kind == "net" {
		root = fs.String("root", "", "serve the files under this `dir` instead of "+Body)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%shttp flags: %w", kind, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%shttp: unexpected arguments %q", kind, fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready := func() { fmt.Fprintf(os.Stderr, "%shttp listening on %s\n", kind, *addr) }
	switch kind {
	case "gnet":
		return ServeGnet(ctx, *addr, ready)
	case "net":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("nethttp: %w", err)
		}
		ready()
		return ServeNetHTTP(ctx, ln, *root)
	}
	return fmt.Errorf("unknown server kind %q", kind)
}
