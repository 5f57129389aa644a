// Command httpd is workermand with two extra handlers for http:// workers,
// built the way any custom binary is (the stock main plus registrations),
// for the HTTP integration tests in package test:
//
//   - "upload" answers every request with a JSON summary of its multipart
//     files (field, name, size, the temp file's path and the sha256 of its
//     content, read before the response is sent, since the file is removed
//     once it is), of its form fields and of its raw body (length and
//     sha256).
//   - "async" answers from another goroutine after the delay given by the
//     query (?ms=N, default 0), as a handler waiting on a database would:
//     the reload tests use it to keep requests in flight while a child
//     retires. The body names the answering pid.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	_ "github.com/workermand/workermand/handlers/echo"
	_ "github.com/workermand/workermand/handlers/respond"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("upload", func() workerman.Handler { return upload{} })
	workerman.RegisterHandler("async", func() workerman.Handler { return async{} })
}

func main() { workerman.RunAll() }

// request is the message's request, or nil when the worker is not http://.
func request(m workerman.Message) *http.Request {
	r, _ := m.Value.(*http.Request)
	return r
}

type upload struct{}

// fileSummary is one uploaded file as the upload handler reports it.
type fileSummary struct {
	Field  string `json:"field"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Error  string `json:"error,omitempty"`
}

type uploadSummary struct {
	Files []fileSummary       `json:"files"`
	Form  map[string][]string `json:"form"`
	// BodySize and BodySHA256 describe the raw body as the handler got it.
	BodySize   int    `json:"body_size"`
	BodySHA256 string `json:"body_sha256"`
	Error      string `json:"error,omitempty"`
}

func (upload) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		r := request(m)
		if r == nil {
			c.Close()
			return
		}
		body := r.RawBody()
		sum := sha256.Sum256(body)
		s := uploadSummary{BodySize: len(body), BodySHA256: hex.EncodeToString(sum[:])}
		files, err := r.Files()
		if err != nil {
			s.Error = err.Error()
		}
		for _, fs := range files {
			for _, f := range fs {
				fsum := fileSummary{Field: f.Field, Name: f.Name, Type: f.Type, Size: f.Size, Path: f.Path}
				sum, err := fileSHA256(f.Path)
				if err != nil {
					fsum.Error = err.Error()
				}
				fsum.SHA256 = sum
				s.Files = append(s.Files, fsum)
			}
		}
		s.Form = r.PostForm()
		resp, err := http.JSON(200, s)
		if err != nil {
			resp = http.Text(500, err.Error())
		}
		_, _ = c.SendValue(resp)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read upload: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type async struct{}

var pid = strconv.Itoa(os.Getpid())

func (async) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		r := request(m)
		if r == nil {
			c.Close()
			return
		}
		ms, _ := strconv.Atoi(r.Get("ms"))
		go func() {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			_, _ = c.SendValue(http.Text(200, "pid "+pid+"\n"))
		}()
	}
	return nil
}
