package http

import (
	"net/netip"
	"os"

	"github.com/workermand/workermand/internal/httpaccess"
)

// The server's operations on requests and responses are unexported, since
// a handler calling them would break its own request (see
// internal/httpaccess); this hands them to the server side.
func init() {
	httpaccess.Install(httpaccess.Funcs[*Request, *Response, *Options]{
		ResetRequest: func(r *Request, head, body, trailer []byte, remote, local netip.AddrPort, opts *Options) {
			r.reset(head, body, trailer, source{Remote: remote, Local: local, Options: opts})
		},
		ReleaseRequest:   (*Request).release,
		TakeFile:         takeFile,
		AppendStatusLine: appendStatusLine,
	})
}

// takeFile prepares r's file body and hands its open file to the caller,
// leaving r's file empty, so it is closed exactly once: by whoever sends it.
func takeFile(r *Response) (f *os.File, offset, length int64, hadFile bool) {
	if r.file == nil {
		return nil, 0, 0, false
	}
	_ = r.prepareFile() // an error turned r into its error page
	fb := r.file
	if fb == nil {
		return nil, 0, 0, true
	}
	f, fb.File = fb.File, nil
	return f, fb.Offset, fb.ContentLength(), true
}
