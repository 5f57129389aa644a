// Command crashd is workermand built the way a user builds their own daemon
// (the stock main.go plus their handler packages), with handlers that
// misbehave on purpose for the integration tests in package test:
//
//   - "crash" exits the process (status 3, or option code) on the message
//     "crash"; echoes anything else.
//   - "panicky" panics in OnMessage on the message "panic" (on an http://
//     worker: a request for /panic); echoes anything else (answers "ok").
//   - "busy" blocks its event loop for ms milliseconds (option ms, default
//     3000; "busy N" for N ms) on a message starting with "busy", then
//     echoes it; with start_delay_ms it also blocks in OnWorkerStart, so a
//     child takes that long to become ready. Echoes anything else.
//   - "failstart" cannot start: Attach returns an error (mode = "attach",
//     the default) or OnWorkerStart exits the process with status code
//     (mode = "exit"). With file set it fails only while that file exists,
//     so a test can start it healthy and make its slot crash-loop later.
//     Echoes when it runs.
//   - "introspect" answers "memlimit" with the Go runtime's memory limit
//     (memory_limit) in bytes. Echoes anything else.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	_ "github.com/workermand/workermand/handlers/echo"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("crash", func() workerman.Handler { return &crash{Code: 3} })
	workerman.RegisterHandler("panicky", func() workerman.Handler { return &panicky{} })
	workerman.RegisterHandler("busy", func() workerman.Handler { return &busy{MS: 3000} })
	workerman.RegisterHandler("failstart", func() workerman.Handler { return &failstart{Mode: "attach", Code: 4} })
	workerman.RegisterHandler("introspect", func() workerman.Handler { return introspect{} })
}

func main() { workerman.RunAll() }

func echo(c *workerman.Connection, m workerman.Message) { c.Send(m.Data) }

type crash struct {
	Code int `toml:"code"`
}

func (h *crash) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if string(m.Data) == "crash" {
			os.Exit(h.Code)
		}
		echo(c, m)
	}
	return nil
}

type panicky struct{}

func (*panicky) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if r, ok := m.Value.(*http.Request); ok {
			if r.Path() == "/panic" {
				panic("panicky: asked to panic")
			}
			c.SendValue(http.Text(200, "ok"))
			return
		}
		if string(m.Data) == "panic" {
			panic("panicky: asked to panic")
		}
		echo(c, m)
	}
	return nil
}

type busy struct {
	MS           int `toml:"ms"`
	StartDelayMS int `toml:"start_delay_ms"`
}

func (h *busy) Validate() error {
	if h.MS < 0 || h.StartDelayMS < 0 {
		return errors.New("ms and start_delay_ms must not be negative")
	}
	return nil
}

// spin keeps the calling goroutine (the event loop) on the CPU for d.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func (h *busy) Attach(w *workerman.Worker) error {
	if h.StartDelayMS > 0 {
		w.OnWorkerStart = func(*workerman.Worker) { spin(time.Duration(h.StartDelayMS) * time.Millisecond) }
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if rest, ok := strings.CutPrefix(string(m.Data), "busy"); ok {
			ms := h.MS
			if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
				ms = n
			}
			spin(time.Duration(ms) * time.Millisecond)
		}
		echo(c, m)
	}
	return nil
}

type failstart struct {
	Mode string `toml:"mode"` // attach or exit
	Code int    `toml:"code"` // exit status in mode exit
	File string `toml:"file"` // fail only while this file exists ("" = always)
}

func (h *failstart) Validate() error {
	if h.Mode != "attach" && h.Mode != "exit" {
		return fmt.Errorf("mode %q: want \"attach\" or \"exit\"", h.Mode)
	}
	return nil
}

func (h *failstart) failing() bool {
	if h.File == "" {
		return true
	}
	_, err := os.Stat(h.File)
	return err == nil
}

func (h *failstart) Attach(w *workerman.Worker) error {
	if h.Mode == "attach" && h.failing() {
		return errors.New("failstart: refusing to attach")
	}
	if h.Mode == "exit" {
		w.OnWorkerStart = func(*workerman.Worker) {
			if h.failing() {
				fmt.Fprintln(os.Stderr, "failstart: exiting in OnWorkerStart")
				os.Exit(h.Code)
			}
		}
	}
	w.OnMessage = echo
	return nil
}

type introspect struct{}

func (introspect) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if string(m.Data) == "memlimit" {
			c.Send([]byte(strconv.FormatInt(debug.SetMemoryLimit(-1), 10)))
			return
		}
		echo(c, m)
	}
	return nil
}
