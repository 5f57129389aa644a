package demo

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// The page is one file, with its style and script, so a newcomer reads the
// whole client in one place; it needs no build step.
//
//go:embed page.html
var pageSource string

var pageTemplate = template.Must(template.New("page.html").Parse(pageSource))

// renderPage renders the page for a chat worker on chatPort.
func renderPage(chatPort int) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, struct{ ChatPort int }{chatPort}); err != nil {
		return nil, fmt.Errorf("rendering the demo page: %w", err)
	}
	return b.Bytes(), nil
}

// pageServer answers the page worker's requests.
type pageServer struct {
	page  *http.Response // shared: encoding only reads it
	meter *meter
}

func attachPage(w *workerman.Worker, chatPort int) error {
	body, err := renderPage(chatPort)
	if err != nil {
		return err
	}
	s := &pageServer{page: &http.Response{Status: 200, Body: body, Header: http.Header{
		{Name: "Content-Type", Value: "text/html; charset=utf-8"},
		{Name: "X-Content-Type-Options", Value: "nosniff"},
		{Name: "Cache-Control", Value: "no-cache"},
	}}}
	w.OnWorkerStart = func(w *workerman.Worker) {
		s.meter = newMeter(w)
		s.meter.start(nil)
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		req, ok := m.Value.(*http.Request)
		if !ok {
			c.Close()
			return
		}
		c.SendValue(s.respond(req))
	}
	return nil
}

// respond is the answer to req: the page at /, this process's row of the
// panel at /stats.
func (s *pageServer) respond(req *http.Request) *http.Response {
	if m := req.Method(); m != "GET" && m != "HEAD" {
		r := http.Text(405, "405 Method Not Allowed\n")
		r.Header.Add("Allow", "GET, HEAD")
		return r
	}
	switch req.Path() {
	case "/":
		return s.page
	case "/stats":
		r, err := http.JSON(200, s.meter.current())
		if err != nil {
			// A struct of numbers and a name always encodes.
			return http.Text(500, "500 Internal Server Error\n")
		}
		return r.WithHeader("Cache-Control", "no-store")
	}
	return http.Text(404, "404 Not Found\n")
}
