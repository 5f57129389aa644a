package fanout

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/workermand/workermand/workerman"
)

// WorkermanMain is the code-first server: one websocket worker on one loop
// in this process whose OnMessage sends every message to every connection
// with the loop a Workerman user writes (foreach ($worker->connections as
// $c) $c->send($data)), so the benchmark measures that loop as well as the
// stock broadcast handler.
func WorkermanMain(args []string) error {
	fs := flag.NewFlagSet("fanoutwm", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen `host:port`")
	ordered := fs.Bool("ordered", false, "loop over the connections in the order they came (a slice the worker keeps) rather than w.Connections()")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("fanoutwm flags: %w", err)
	}
	w := workerman.NewWorker("websocket://" + *addr)
	w.Name = "fanout"
	w.OnMessage = func(_ *workerman.Connection, m workerman.Message) {
		for c := range w.Connections() {
			c.Send(m.Data)
		}
	}
	if *ordered {
		var conns []*workerman.Connection
		w.OnConnect = func(c *workerman.Connection) { conns = append(conns, c) }
		w.OnClose = func(c *workerman.Connection) {
			if i := slices.Index(conns, c); i >= 0 {
				conns = slices.Delete(conns, i, i+1)
			}
		}
		w.OnMessage = func(_ *workerman.Connection, m workerman.Message) {
			for _, c := range conns {
				c.Send(m.Data)
			}
		}
	}
	p, err := workerman.NewProcess(workerman.ProcessOptions{}, w)
	if err != nil {
		return fmt.Errorf("fanoutwm: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		p.Stop()
	}()
	fmt.Fprintf(os.Stderr, "fanoutwm listening on %s\n", *addr)
	if err := p.Run(ctx); err != nil {
		return fmt.Errorf("fanoutwm: %w", err)
	}
	return nil
}
