// Package respond is the stock "respond" handler: every HTTP request gets
// the same response, set in [worker.options]. It serves health checks,
// maintenance pages and benchmarks without code.
//
//	[[worker]]
//	listen  = "http://0.0.0.0:8080"
//	handler = "respond"
//	[worker.options]
//	status       = 200
//	body         = "Hello, World!"
//	content_type = "text/plain; charset=utf-8"
//	headers      = { "Cache-Control" = "no-store" }
package respond

import (
	"fmt"
	"slices"
	"strings"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("respond", func() workerman.Handler {
		return &Handler{Status: 200, ContentType: "text/plain; charset=utf-8"}
	})
}

// Handler answers every request with one fixed response.
type Handler struct {
	Status      int               `toml:"status"`
	Body        string            `toml:"body"`
	ContentType string            `toml:"content_type"`
	Headers     map[string]string `toml:"headers"`

	resp *http.Response
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// Validate checks the options and builds the response once.
func (h *Handler) Validate() error {
	if h.Status < 200 || h.Status > 599 {
		return fmt.Errorf("status = %d: want a final status, 200 to 599", h.Status)
	}
	if h.ContentType != "" && !http.ValidFieldValue(h.ContentType) {
		return fmt.Errorf("content_type = %q is not a valid header value", h.ContentType)
	}
	r := &http.Response{Status: h.Status, Body: []byte(h.Body)}
	if h.ContentType != "" {
		r.Header = append(r.Header, http.Field{Name: "Content-Type", Value: h.ContentType})
	}
	// Sorted, so that every process sends the fields in the same order.
	names := make([]string, 0, len(h.Headers))
	for n := range h.Headers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := h.Headers[n]
		switch {
		case !http.ValidFieldName(n):
			return fmt.Errorf("headers: %q is not a valid field name", n)
		case !http.ValidFieldValue(v):
			return fmt.Errorf("headers: the value of %q is not a valid field value", n)
		case strings.EqualFold(n, "Content-Length"), strings.EqualFold(n, "Transfer-Encoding"), strings.EqualFold(n, "Connection"):
			return fmt.Errorf("headers: %q is set by the server", n)
		}
		r.Header = append(r.Header, http.Field{Name: n, Value: v})
	}
	h.resp = r
	return nil
}

// Attach answers each request with the response. The response is shared:
// encoding only reads it.
func (h *Handler) Attach(w *workerman.Worker) error {
	if w.Protocol() != "http" {
		return fmt.Errorf("the respond handler needs an http:// or https:// worker, not %q", w.ListenAddr)
	}
	if h.resp == nil {
		if err := h.Validate(); err != nil {
			return err
		}
	}
	w.OnMessage = func(c *workerman.Connection, _ workerman.Message) {
		// SendValue only fails for a value the protocol cannot encode,
		// which an http:// worker's Response never is.
		_, _ = c.SendValue(h.resp)
	}
	return nil
}
