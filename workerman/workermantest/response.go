package workermantest

import (
	"errors"
	"fmt"
	"io"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpaccess"
)

var server = httpaccess.Get[*http.Request, *http.Response, *http.Options]()

// ResponseBody returns the body a client would receive for r, so a test
// can call a handler directly and check its answer: r.Body, or the bytes
// of the file that WithFile or ServeFile chose. The file is opened and
// checked as the server would, so a file that cannot be sent turns r into
// its error page (404, 416) and the page's body is returned. It takes r's
// file and closes it: call it once per response.
func ResponseBody(r *http.Response) ([]byte, error) {
	f, offset, length, _ := server.TakeFile(r)
	if f == nil {
		return r.Body, nil
	}
	defer f.Close()
	b := make([]byte, length)
	if _, err := f.ReadAt(b, offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the file body %s: %w", f.Name(), err)
	} else if err != nil {
		return nil, fmt.Errorf("read the file body %s: the file shrank: %w", f.Name(), io.ErrUnexpectedEOF)
	}
	return b, nil
}
