package httpparse

import (
	"bytes"
	"testing"
)

func FuzzParseHead(f *testing.F) {
	for _, tc := range headCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint16(tc.lim.MaxHeaderBytes), uint8(tc.lim.MaxHeaders))
		}
	}
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"), uint16(0), uint8(0))
	f.Add([]byte("HEAD /a HTTP/1.7\r\nHost: x\r\nConnection: close\r\n\r\n"), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, maxBytes uint16, maxHeaders uint8) {
		lim := Limits{MaxHeaderBytes: int(maxBytes), MaxHeaders: int(maxHeaders)}
		var r Request
		n, err := ParseHead(in, &r, lim)
		checkFastAgrees(t, in, lim)
		if n < 0 || n > len(in) {
			t.Fatalf("n = %d, len %d", n, len(in))
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with %v", n, err)
			}
			switch statusOf(err) {
			case 400, 413, 431, 501, 505:
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if n > 0 {
			if n != r.HeadLen || !bytes.HasSuffix(in[:n], []byte("\r\n\r\n")) {
				t.Fatalf("n = %d, HeadLen %d, head %q", n, r.HeadLen, in[:n])
			}
			if r.Chunked && r.ContentLength != -1 {
				t.Fatal("both chunked and a Content-Length")
			}
			if r.Minor == 1 && r.Host == nil {
				t.Fatal("HTTP/1.1 without Host")
			}
			// Only 1.0 and 1.1 are handled; a later 1.x is handled as 1.1.
			if r.Major != 1 || r.Minor > 1 || (r.Proto[7] > '1') != (r.Minor == 1 && string(r.Proto) != "HTTP/1.1") {
				t.Fatalf("version %d.%d for %q", r.Major, r.Minor, r.Proto)
			}
			// The head parses the same on its own: nothing after it matters.
			var r2 Request
			if n2, err2 := ParseHead(in[:n], &r2, lim); n2 != n || err2 != nil || !sameRequest(&r, &r2) {
				t.Fatalf("head alone: (%d, %v)", n2, err2)
			}
		}
		if len(in) <= 1024 {
			checkSplit(t, in, lim)
		} else {
			for _, k := range []int{1, len(in) / 3, len(in) / 2, len(in) - 1} {
				var r2 Request
				n2, err2 := ParseHead(in[:k], &r2, lim)
				if !(n2 == 0 && err2 == nil) && (n2 != n || err2 != err) {
					t.Fatalf("prefix %d: (%d, %v), whole (%d, %v)", k, n2, err2, n, err)
				}
			}
		}
	})
}

func FuzzChunked(f *testing.F) {
	for _, tc := range chunkCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint16(len(tc.in)/2))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		want := runChunked(in) // panics if Feed consumes outside its buffer
		switch want.status {
		case 0, 400, 431:
		default:
			t.Fatalf("unexpected status %d", want.status)
		}
		if want.done && want.consumed > len(in) {
			t.Fatalf("consumed %d of %d", want.consumed, len(in))
		}
		if len(want.payload) > len(in) {
			t.Fatal("payload longer than input")
		}
		if got := runChunked(in, int(cut)); got != want {
			t.Fatalf("split at %d: %+v, whole %+v", cut, got, want)
		}
		// Byte at a time costs O(n²) feeds: keep it to small inputs so that
		// no input stalls the fuzzer.
		if len(in) <= 128 {
			every := make([]int, len(in))
			for i := range every {
				every[i] = i + 1
			}
			if got := runChunked(in, every...); got != want {
				t.Fatalf("byte at a time: %+v, whole %+v", got, want)
			}
		}
	})
}
