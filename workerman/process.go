package workerman

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/netloop"
)

// ProcessOptions configure a Process.
type ProcessOptions struct {
	// Logger receives the process's logs (none when nil).
	Logger *zap.Logger
	// AcceptBatch caps connections accepted per listener wakeup (32).
	AcceptBatch int
}

// Process runs workers on one event loop in this process: what each child of
// the daemon runs, and what tests and foreground tools use.
type Process struct {
	loop    *EventLoop
	workers []*Worker
	log     *zap.Logger
}

// NewProcess validates the workers, binds their listening sockets and builds
// the event loop. Nothing is accepted until Run.
func NewProcess(opts ProcessOptions, workers ...*Worker) (*Process, error) {
	if len(workers) == 0 {
		return nil, errors.New("workerman: no workers to run")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var errs []error
	for _, w := range workers {
		if w.loop != nil {
			errs = append(errs, fmt.Errorf("worker %q already belongs to a process", w.Name))
			continue
		}
		if err := w.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if w.Handler != nil {
			if err := w.Handler.Attach(w); err != nil {
				errs = append(errs, fmt.Errorf("worker %q: attach handler: %w", w.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l, err := netloop.New(netloop.Config{Logger: log, AcceptBatch: opts.AcceptBatch})
	if err != nil {
		return nil, fmt.Errorf("create event loop: %w", err)
	}
	p := &Process{loop: newEventLoop(l), workers: workers, log: log}
	for _, w := range workers {
		if err := p.listen(w); err != nil {
			l.Close()
			return nil, err
		}
	}
	return p, nil
}

func (p *Process) listen(w *Worker) error {
	fd, err := netloop.ListenTCP(w.addr.AddrPort(), netloop.ListenOptions{ReusePort: w.ReusePort})
	if err != nil {
		return fmt.Errorf("worker %q: listen on %s: %w", w.Name, w.Listen, err)
	}
	ln, err := p.loop.l.AddListener(fd, netloop.ListenerConfig{
		Protocol:       w.proto,
		NewConn:        w.newConn,
		Shared:         w.Count > 1 && !w.ReusePort,
		MaxPackageSize: w.MaxPackageSize,
		MaxSendBuffer:  w.MaxSendBufferSize,
	})
	if err != nil {
		return fmt.Errorf("worker %q: %w", w.Name, err)
	}
	w.listener = ln
	w.loop = p.loop
	w.conns = map[uint64]*Connection{}
	return nil
}

// Loop is the process's event loop.
func (p *Process) Loop() *EventLoop { return p.loop }

// Run calls every OnWorkerStart on the loop, then serves until ctx is done or
// Stop is called. On the way out it calls OnWorkerStop, then closes the
// listeners and every connection (OnClose runs for each).
func (p *Process) Run(ctx context.Context) error {
	l := p.loop.l
	l.BeforeShutdown = func() {
		for _, w := range p.workers {
			if w.OnWorkerStop != nil {
				p.call("OnWorkerStop", w, w.OnWorkerStop)
			}
		}
	}
	l.Post(func() {
		for _, w := range p.workers {
			p.log.Info("worker started", zap.String("worker", w.Name), zap.Stringer("listen", w.Addr()))
			if w.OnWorkerStart != nil {
				p.call("OnWorkerStart", w, w.OnWorkerStart)
			}
		}
	})
	stop := context.AfterFunc(ctx, l.Stop)
	defer stop()
	if err := l.Run(); err != nil {
		return fmt.Errorf("event loop: %w", err)
	}
	return nil
}

// Stop ends Run. Safe from any goroutine.
func (p *Process) Stop() { p.loop.l.Stop() }

// call runs a worker-level callback under the loop's panic guard: a panic is
// logged and counted and does not keep the other workers from starting or
// stopping.
func (p *Process) call(name string, w *Worker, fn func(*Worker)) {
	p.loop.l.Guard(name+" of "+w.Name, func() { fn(w) })
}
