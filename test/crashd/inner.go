package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/workermand/workermand/workerman"
)

// "inner" is the Workerman manual's inner-listener pattern (1.16.15 "send
// to a given uid", 1.16.17 "push from other projects"): in OnWorkerStart
// each process of the worker builds a text worker on 127.0.0.1:port
// (option port) and calls Listen. The inner worker answers a line with the
// line and the pid of the process that served it, so a test can tell the
// processes (and the old and new ones of a reload) apart; the slot's own
// worker echoes. A Listen that fails exits the process with status 5, after
// logging why.
func init() {
	workerman.RegisterHandler("inner", func() workerman.Handler { return &inner{} })
}

type inner struct {
	Port int `toml:"port"`
}

func (h *inner) Attach(w *workerman.Worker) error {
	if h.Port <= 0 || h.Port > 65535 {
		return fmt.Errorf("inner: option port (1-65535) is required, not %d", h.Port)
	}
	w.OnMessage = echo
	w.OnWorkerStart = func(w *workerman.Worker) {
		in := workerman.NewWorker(fmt.Sprintf("text://127.0.0.1:%d", h.Port))
		in.Name = w.Name + "-inner"
		in.OnMessage = func(c *workerman.Connection, m workerman.Message) {
			c.SendString(fmt.Sprintf("%s %d", m.Data, os.Getpid()))
		}
		if err := in.Listen(); err != nil {
			w.Loop().Logger().Error("inner listener failed", zap.String("listen", in.ListenAddr), zap.Error(err))
			_ = w.Loop().Logger().Sync()
			os.Exit(5)
		}
	}
	return nil
}
