package wsserver

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is the command line of both servers; kind is "gorilla" or "gnet".
// They run until SIGTERM or SIGINT.
func Main(kind string, args []string) error {
	fs := flag.NewFlagSet("ws"+kind, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen `host:port`")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("ws%s flags: %w", kind, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready := func() { fmt.Fprintf(os.Stderr, "ws%s listening on %s\n", kind, *addr) }
	switch kind {
	case "gorilla":
		return ServeGorilla(ctx, *addr, ready)
	case "gnet":
		return ServeGnet(ctx, *addr, ready)
	}
	return fmt.Errorf("unknown server kind %q", kind)
}
