// Command httpapi is an HTTP JSON API on an http:// worker with two
// processes: routes by method and path, JSON in and out, 404 and 405.
//
//	go run ./httpapi start
//	curl 'http://127.0.0.1:7010/hello?name=Ada'
//	curl -d '{"numbers":[1,2,3.5]}' -H 'Content-Type: application/json' http://127.0.0.1:7010/sum
//
// HTTPAPI_ADDR changes the address (127.0.0.1:7010).
package main

import (
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// route answers one request; it returns the status and the value sent back
// as JSON.
type route func(req *http.Request) (int, any)

// routes maps a path to its handlers by method.
var routes = map[string]map[string]route{
	"/hello": {"GET": hello},
	"/sum":   {"POST": sum},
}

func main() {
	api := workerman.NewWorker("http://" + env("HTTPAPI_ADDR", "127.0.0.1:7010"))
	api.Name = "api"
	// The handlers keep no state, so the requests may go to any of the
	// processes: Count is all it takes to use two cores.
	api.Count = 2
	api.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		req := m.Value.(*http.Request)
		status, body := serve(req)
		resp, err := http.JSON(status, body)
		if err != nil {
			resp = http.Text(500, "cannot encode the answer\n")
		}
		if status == 405 {
			resp.WithHeader("Allow", allowed(req.Path()))
		}
		c.SendValue(resp)
	}
	workerman.RunAll(api)
}

// serve picks the route.
func serve(req *http.Request) (int, any) {
	byMethod, ok := routes[req.Path()]
	if !ok {
		return 404, errorBody{"not found: " + req.Path()}
	}
	h, ok := byMethod[req.Method()]
	if !ok {
		return 405, errorBody{"method not allowed: " + req.Method()}
	}
	return h(req)
}

type errorBody struct {
	Error string `json:"error"`
}

// hello greets ?name=, and says which process answered: run it a few
// times to see both.
func hello(req *http.Request) (int, any) {
	name := req.Get("name")
	if name == "" {
		name = "world"
	}
	return 200, map[string]any{"hello": name, "pid": os.Getpid()}
}

// sum adds up {"numbers": [...]}.
func sum(req *http.Request) (int, any) {
	var in struct {
		Numbers []float64 `json:"numbers"`
	}
	if err := req.JSON(&in); err != nil {
		return 400, errorBody{err.Error()}
	}
	total := 0.0
	for _, n := range in.Numbers {
		total += n
	}
	return 200, map[string]any{"sum": total, "count": len(in.Numbers)}
}

// allowed lists the methods of a path, for a 405's Allow field.
func allowed(path string) string {
	return strings.Join(slices.Sorted(maps.Keys(routes[path])), ", ")
}

// env is the environment variable key, or def when it is unset. Settings
// come from the environment because the command line belongs to RunAll.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
