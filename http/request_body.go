package http

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strings"
)

// Post is the first value of the form field name ("" when absent); see
// PostForm.
func (r *Request) Post(name string) string {
	if vs := r.PostForm()[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// PostForm is the body's form fields: an application/x-www-form-urlencoded
// body (also assumed when there is no Content-Type), decoded as Query
// decodes the query string, or the non-file fields of a multipart/form-data
// body. Other bodies (JSON: see JSON) give an empty map. A multipart body
// that is malformed or over a limit gives no fields at all, rather than
// some: Files says why.
//
// The map is the request's own, made once: changes to it are seen by Post.
func (r *Request) PostForm() url.Values {
	r.parseBody()
	return r.lazy.formV
}

// parseBody decodes the form once; a multipart body's files are written
// in the same pass, as Workerman does, so that a body is read once.
func (r *Request) parseBody() {
	l := &r.lazy
	if l.done&reqDoneBody != 0 {
		return
	}
	l.done |= reqDoneBody
	ct := r.ContentType()
	mt, params, _ := mime.ParseMediaType(ct)
	switch {
	case mt == "multipart/form-data":
		l.formV, l.files, l.bodyErr = r.parseMultipart(params["boundary"])
	case mt == "application/x-www-form-urlencoded" || strings.TrimSpace(ct) == "":
		l.formV = reqParseQuery(string(r.body))
	}
	if l.formV == nil {
		l.formV = url.Values{}
	}
}

// JSON decodes a JSON body into v, as json.Unmarshal does. It fails when
// the Content-Type is not JSON (application/json, text/json or any
// "+json" type such as application/vnd.api+json; parameters such as
// charset are ignored) or the body is not valid JSON for v.
func (r *Request) JSON(v any) error {
	ct := r.ContentType()
	if mt, _, _ := mime.ParseMediaType(ct); !reqIsJSONType(mt) {
		return fmt.Errorf("request body is not JSON: Content-Type %q", ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("decode JSON request body: %w", err)
	}
	return nil
}

// reqIsJSONType reports whether the media type mt (lower case, as
// mime.ParseMediaType returns it) is JSON: subtype "json" or a "+json"
// structured syntax suffix (RFC 6839).
func reqIsJSONType(mt string) bool {
	_, sub, ok := strings.Cut(mt, "/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json"))
}
