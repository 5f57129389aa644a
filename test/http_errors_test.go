package test

import (
	"strings"
	"testing"
)

// Against the real binary: an error answer to HEAD carries no content
// (RFC 9110 §9.3.2), whatever the error, and a later HTTP/1.x minor
// version is served as HTTP/1.1 (RFC 9110 §2.5) instead of refused.
func TestHTTPHeadErrorsAndLaterMinorVersion(t *testing.T) {
	t.Parallel()
	_, addr := startHTTP(t, stockBin, "hello", 1, respondWorker("hello", 1,
		"[worker.http]", "max_header_bytes = 1024"))
	for _, tc := range []struct {
		name, req, status string
	}{
		{"bad request", "HEAD / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
		{"body too large", "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", "413"},
		{"head too large", "HEAD / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 2000) + "\r\n\r\n", "431"},
		{"HTTP/2.0", "HEAD / HTTP/2.0\r\nHost: a\r\n\r\n", "505"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, addr, tc.req)
			head, body, found := strings.Cut(got, "\r\n\r\n")
			if !strings.HasPrefix(head, "HTTP/1.1 "+tc.status+" ") || !found {
				t.Fatalf("answer %q, want a %s head", got, tc.status)
			}
			if body != "" {
				t.Errorf("HEAD answered %s with content %q", tc.status, body)
			}
			// The same request as GET gets the explanation as content.
			get := rawExchange(t, addr, "GET"+strings.TrimPrefix(tc.req, "HEAD"))
			if _, gbody, _ := strings.Cut(get, "\r\n\r\n"); !strings.HasPrefix(get, "HTTP/1.1 "+tc.status+" ") || gbody == "" {
				t.Errorf("the same request as GET: %q", get)
			}
		})
	}
	t.Run("HTTP/1.2", func(t *testing.T) {
		got := rawExchange(t, addr, "GET / HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "\r\n\r\n"+helloBody) {
			t.Fatalf("HTTP/1.2 request answered %q, want the page as HTTP/1.1", got)
		}
	})
}
