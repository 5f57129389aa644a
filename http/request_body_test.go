package http

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func bodyReq(contentType, body string) *Request {
	head := "POST /form HTTP/1.1\r\nHost: a\r\n"
	if contentType != "" {
		head += "Content-Type: " + contentType + "\r\n"
	}
	return newRequest([]byte(head+"\r\n"), []byte(body), nil, source{})
}

func TestPostForm(t *testing.T) {
	tests := []struct {
		ct, body string
		want     url.Values
	}{
		{"application/x-www-form-urlencoded", "a=1&a=2&b=x+y%21&c", url.Values{"a": {"1", "2"}, "b": {"x y!"}, "c": {""}}},
		{"Application/X-WWW-Form-Urlencoded; charset=UTF-8", "a=1", url.Values{"a": {"1"}}},
		{"", "a=1", url.Values{"a": {"1"}}}, // no Content-Type: assumed urlencoded
		{"text/plain", "a=1", url.Values{}},
		{"application/json", `{"a":"1"}`, url.Values{}},
		{"application/x-www-form-urlencoded", "", url.Values{}},
	}
	for _, tt := range tests {
		r := bodyReq(tt.ct, tt.body)
		if got := r.PostForm(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q %q: PostForm = %q, want %q", tt.ct, tt.body, got, tt.want)
		}
		for name, vs := range tt.want {
			if got := r.Post(name); got != vs[0] {
				t.Errorf("%q: Post(%q) = %q, want %q", tt.body, name, got, vs[0])
			}
		}
		if files, err := r.Files(); files != nil || err != nil {
			t.Errorf("%q: Files of a non-multipart body = %v, %v", tt.ct, files, err)
		}
	}
}

func TestJSON(t *testing.T) {
	type msg struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
		"application/vnd.api+json", "application/ld+json", "text/json"} {
		var m msg
		if err := bodyReq(ct, `{"a":1,"b":"x"}`).JSON(&m); err != nil || m != (msg{1, "x"}) {
			t.Errorf("%q: JSON = %+v, %v", ct, m, err)
		}
	}
	for _, tt := range []struct{ ct, body, want string }{
		{"text/plain", `{"a":1}`, "not JSON"},
		{"", `{"a":1}`, "not JSON"},
		{"application/jsonx", `{"a":1}`, "not JSON"},
		{"application/x-www-form-urlencoded", `{"a":1}`, "not JSON"},
		{"application/json", `{"a":`, "decode JSON"},
		{"application/json", ``, "decode JSON"},
		{"application/json", `{"a":"str"}`, "decode JSON"},
	} {
		var m msg
		if err := bodyReq(tt.ct, tt.body).JSON(&m); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q %q: JSON error = %v, want one with %q", tt.ct, tt.body, err, tt.want)
		}
	}
}
