package http

import "strconv"

// Status codes with a standard reason phrase (RFC 9110 and the registry).
var statusText = map[int]string{
	100: "Continue",
	101: "Switching Protocols",
	102: "Processing",
	103: "Early Hints",

	200: "OK",
	201: "Created",
	202: "Accepted",
	203: "Non-Authoritative Information",
	204: "No Content",
	205: "Reset Content",
	206: "Partial Content",
	207: "Multi-Status",
	208: "Already Reported",
	226: "IM Used",

	300: "Multiple Choices",
	301: "Moved Permanently",
	302: "Found",
	303: "See Other",
	304: "Not Modified",
	305: "Use Proxy",
	307: "Temporary Redirect",
	308: "Permanent Redirect",

	400: "Bad Request",
	401: "Unauthorized",
	402: "Payment Required",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	406: "Not Acceptable",
	407: "Proxy Authentication Required",
	408: "Request Timeout",
	409: "Conflict",
	410: "Gone",
	411: "Length Required",
	412: "Precondition Failed",
	413: "Content Too Large",
	414: "URI Too Long",
	415: "Unsupported Media Type",
	416: "Range Not Satisfiable",
	417: "Expectation Failed",
	418: "I'm a teapot",
	421: "Misdirected Request",
	422: "Unprocessable Content",
	423: "Locked",
	424: "Failed Dependency",
	425: "Too Early",
	426: "Upgrade Required",
	428: "Precondition Required",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	451: "Unavailable For Legal Reasons",

	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
	506: "Variant Also Negotiates",
	507: "Insufficient Storage",
	508: "Loop Detected",
	510: "Not Extended",
	511: "Network Authentication Required",
}

// StatusText returns the standard reason phrase of code (the RFC 9110
// wording: 413 is "Content Too Large", 422 "Unprocessable Content"), or ""
// for a code without one.
func StatusText(code int) string { return statusText[code] }

// statusLines holds whole precomputed status lines, "HTTP/1.x 200 OK\r\n",
// for every code with a phrase, indexed [minor][code-100]: the common case
// is then a single append.
var statusLines = func() (t [2][900]string) {
	for code, text := range statusText {
		for minor := range 2 {
			t[minor][code-100] = "HTTP/1." + strconv.Itoa(minor) + " " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return t
}()

// AppendStatusLine appends "HTTP/major.minor code reason\r\n" to dst.
//
// An empty reason, or one that could not be sent (holding CR, LF or another
// control character but HTAB), is replaced by StatusText(code); a code
// without a standard phrase then gets an empty reason, which RFC 9112 §4
// allows (the space before it stays) and clients ignore anyway. Code 0 is
// written as 200 (a Response's zero status); any other code outside
// 100–999 cannot be put on the wire and is written as 500.
func appendStatusLine(dst []byte, major, minor, code int, reason string) []byte {
	switch {
	case code == 0:
		code = 200
	case code < 100 || code > 999:
		code, reason = 500, ""
	}
	if reason != "" && !validReason(reason) {
		reason = ""
	}
	if major == 1 && (minor == 0 || minor == 1) {
		line := statusLines[minor][code-100]
		// line[13:len-2] is the phrase after "HTTP/1.x nnn ".
		if line != "" && (reason == "" || reason == line[13:len(line)-2]) {
			return append(dst, line...)
		}
	}
	if reason == "" {
		reason = statusText[code]
	}
	dst = append(dst, "HTTP/"...)
	dst = strconv.AppendInt(dst, int64(major), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(minor), 10)
	dst = append(dst, ' ', byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10), ' ')
	dst = append(dst, reason...)
	return append(dst, '\r', '\n')
}

// validReason reports whether s may be a reason phrase: HTAB, SP, VCHAR
// and obs-text.
func validReason(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
