package wsproto

import (
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpaccess"
)

// server holds the operations on requests and responses that package http
// keeps from handlers: reusing a Request, removing its uploads, taking a
// Response's file, writing a status line.
var server = httpaccess.Get[*http.Request, *http.Response, *http.Options]()
