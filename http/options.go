package http

import (
	"fmt"
	"net/netip"
	"time"
)

// Options are a worker's HTTP settings, the [worker.http] table. The zero
// value means "every default".
type Options struct {
	// MaxHeaderBytes bounds the request line and header fields (16 KiB).
	// A longer head is answered 431. Bodies are bounded by the worker's
	// max_package_size (413).
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// MaxHeaders bounds the number of header fields (100; 431 above).
	MaxHeaders int `toml:"max_headers"`
	// HeaderTimeout is how long a client may take to send a request head
	// once it started (10s): the slowloris defence. It covers the head
	// only; the body has BodyTimeout. 0 takes the default.
	HeaderTimeout time.Duration `toml:"header_timeout"`
	// BodyTimeout is the longest pause between two reads of a request
	// body (60s), as nginx's client_body_timeout: a slow upload is served
	// however long it takes, as long as it keeps coming. A body that
	// stalls longer is answered 408. 0 takes the default.
	BodyTimeout time.Duration `toml:"body_timeout"`
	// KeepAliveTimeout closes a keep-alive connection idle that long
	// between requests (60s). 0 takes the default.
	KeepAliveTimeout time.Duration `toml:"keepalive_timeout"`
	// KeepAliveRequests closes a connection after that many requests
	// (0: no limit), as nginx's keepalive_requests.
	KeepAliveRequests int `toml:"keepalive_requests"`
	// TrustedProxies lists the addresses (CIDR prefixes or single IPs) of
	// proxies whose X-Forwarded-For / X-Real-IP headers name the client;
	// Request.ClientIP ignores those headers from anyone else.
	TrustedProxies []string `toml:"trusted_proxies"`
	// UploadDir is where multipart file uploads are written (os.TempDir()).
	UploadDir string `toml:"upload_dir"`
	// MaxUploadFiles bounds the files of one multipart request (1024, as
	// Workerman); MaxUploadFileSize bounds each file (0: only the body
	// limit, max_package_size, applies).
	MaxUploadFiles    int   `toml:"max_upload_files"`
	MaxUploadFileSize int64 `toml:"max_upload_file_size"`
	// Server is the Server header added to every response ("" adds none).
	Server string `toml:"server"`
	// AccessLog is the access log's file ("" for none, "-" for stderr).
	// AccessLogFormat is "combined" (the default), "common" or "json".
	AccessLog       string `toml:"access_log"`
	AccessLogFormat string `toml:"access_log_format"`

	trusted []netip.Prefix
}

// Defaults of Options.
const (
	DefaultMaxHeaderBytes   = 16 << 10
	DefaultMaxHeaders       = 100
	DefaultHeaderTimeout    = 10 * time.Second
	DefaultBodyTimeout      = 60 * time.Second
	DefaultKeepAliveTimeout = 60 * time.Second
	DefaultMaxUploadFiles   = 1024
)

// OptionError is what WithDefaults finds wrong with one key of Options;
// Key is its name in the [worker.http] table, so that a config check can
// report the problem at the key's own line. websocket.OptionError has the
// same shape.
type OptionError struct {
	Key string
	Msg string // what is wrong with the value, without the key
}

func (e *OptionError) Error() string { return e.Key + ": " + e.Msg }

func optionError(key, format string, args ...any) error {
	return &OptionError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// WithDefaults validates o and returns it with every unset field at its
// default. The error, an *OptionError, names the offending key.
func (o Options) WithDefaults() (Options, error) {
	for _, l := range []struct {
		key string
		v   int64
	}{{"max_header_bytes", int64(o.MaxHeaderBytes)}, {"max_headers", int64(o.MaxHeaders)},
		{"keepalive_requests", int64(o.KeepAliveRequests)}, {"max_upload_files", int64(o.MaxUploadFiles)},
		{"max_upload_file_size", o.MaxUploadFileSize}} {
		if l.v < 0 {
			return o, optionError(l.key, "%d: limits must not be negative", l.v)
		}
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxHeaderBytes < 256 {
		return o, optionError("max_header_bytes", "%d is too small (at least 256)", o.MaxHeaderBytes)
	}
	if o.MaxHeaders == 0 {
		o.MaxHeaders = DefaultMaxHeaders
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{{"header_timeout", &o.HeaderTimeout, DefaultHeaderTimeout}, {"body_timeout", &o.BodyTimeout, DefaultBodyTimeout},
		{"keepalive_timeout", &o.KeepAliveTimeout, DefaultKeepAliveTimeout}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < time.Millisecond:
			// A bare TOML integer decodes as nanoseconds.
			return o, optionError(d.key, "%d: write a duration with a unit, as in \"10s\"", int64(*d.v))
		}
	}
	if o.MaxUploadFiles == 0 {
		o.MaxUploadFiles = DefaultMaxUploadFiles
	}
	switch o.AccessLogFormat {
	case "":
		o.AccessLogFormat = "combined"
	case "combined", "common", "json":
	default:
		return o, optionError("access_log_format", "%q: want combined, common or json", o.AccessLogFormat)
	}
	o.trusted = o.trusted[:0:0]
	for _, s := range o.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return o, optionError("trusted_proxies", "%q is neither an address nor a CIDR prefix", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		o.trusted = append(o.trusted, p.Masked())
	}
	return o, nil
}

// Trusted reports whether a is one of TrustedProxies (after WithDefaults).
func (o *Options) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range o.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
