package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/listenaddr"
)

var (
	globalKeys = []string{
		"pid_file", "log_file", "log_level", "log_format", "stdout_file",
		"stop_timeout", "graceful_timeout", "control_socket", "worker", "monitor",
		"metrics",
	}
	workerKeys = []string{
		"name", "listen", "transport", "count", "user", "group", "reuse_port",
		"reloadable", "handler", "max_package_size", "max_send_buffer_size",
		"max_connections", "max_requests", "idle_timeout", "send_timeout", "backlog", "memory_limit",
		"proxy_protocol", "options", "http", "websocket",
		"socket_mode", "socket_owner", "socket_group", "ipv6_only", "tls",
	}
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"console", "json"}
)

// parse does the work of Parse; file names the text in problems. It returns
// the config it could build even when there are problems (Default relies on
// that).
func parse(data []byte, path, file string, hooks Hooks) (*Config, *Errors) {
	c := &Config{
		Path:            absPath(path),
		Source:          slices.Clone(data),
		LogLevel:        DefaultLogLevel,
		LogFormat:       DefaultLogFormat,
		StdoutFile:      DefaultStdoutFile,
		StopTimeout:     Duration{DefaultStopTimeout},
		GracefulTimeout: Duration{DefaultGracefulTimeout},
		file:            file,
	}
	if c.Source == nil {
		c.Source = []byte{}
	}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		p := Problem{File: file, Msg: err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line, p.Col, p.Msg = pe.Position.Line, pe.Position.Col, pe.Message
			if lines := bytes.Split(data, []byte("\n")); p.Line < 1 || p.Line > len(lines) || p.Col > len(lines[p.Line-1])+1 {
				p.Col = 0 // the decoder sometimes points past the end of the line
			}
		}
		return c, &Errors{Problems: []Problem{p}}
	}
	ck := &checker{file: file, lines: indexLines(data)}
	c.lines = ck.lines

	top := ck.table("", doc)
	top.path("pid_file", &c.PidFile)
	top.path("log_file", &c.LogFile)
	top.path("stdout_file", &c.StdoutFile)
	top.path("control_socket", &c.ControlSocket)
	top.oneOf("log_level", &c.LogLevel, "a log level", logLevels)
	top.oneOf("log_format", &c.LogFormat, "a log format", logFormats)
	top.duration("stop_timeout", &c.StopTimeout)
	top.duration("graceful_timeout", &c.GracefulTimeout)
	ck.monitor(c, top)
	ck.metrics(c, top)
	for i, m := range top.workerTables(len(hooks.Code) > 0) {
		if m != nil {
			c.Workers = append(c.Workers, ck.worker(i, m))
		}
	}
	top.unknown(globalKeys)

	ck.crossCheck(c.Workers)
	ck.probs = append(ck.probs, c.addCode(hooks.Code)...)
	ck.checkMetricsCollision(c)
	if hooks.Handler != nil {
		for _, w := range c.Workers {
			if !w.Code && ck.handlerOK[w.Index] {
				ck.runHandlerHook(w, hooks.Handler)
			}
		}
	}
	for _, w := range c.Workers {
		ck.protocolTables(w, hooks.ProtocolTable)
		ck.loadTLS(w, hooks.TLS)
	}
	if len(ck.probs) > 0 {
		sortProblems(ck.probs)
		return c, &Errors{Problems: ck.probs}
	}
	return c, nil
}

// protocolTables checks that [worker.http] and [worker.websocket] belong to
// a worker whose protocol reads them, and lets the hook decode them.
func (ck *checker) protocolTables(w *Worker, hook func(scheme, table string, decode func(any) error) error) {
	for _, pt := range []struct {
		name    string
		t       Table
		schemes []string
	}{{"http", w.HTTP, []string{"http"}}, {"websocket", w.WebSocket, []string{"websocket", "ws"}}} {
		// Without the hook nothing here knows the protocols: the tables
		// are kept as they are for whoever reads them.
		if !pt.t.Defined() || hook == nil {
			continue
		}
		if w.Addr.Scheme != "" && !slices.Contains(pt.schemes, w.Addr.Scheme) {
			ck.add(pt.t.key, "[%s] only applies to %s:// workers; this one listens on %s://", pt.t.key, pt.schemes[0], w.Addr.Scheme)
			continue
		}
		var decodeErr error
		err := hook(w.Addr.Scheme, pt.name, func(into any) error {
			decodeErr = pt.t.Decode(into)
			return decodeErr
		})
		var errs *Errors
		if decodeErr != nil && errors.As(decodeErr, &errs) {
			ck.probs = append(ck.probs, errs.Problems...)
		}
		for _, e := range joined(err) {
			var ke *KeyError
			switch {
			case errors.As(e, &ke):
				ck.add(joinKey(pt.t.key, ke.Key), "%s", ke.Msg)
			case decodeErr != nil && errors.Is(e, decodeErr):
				// reported above, key by key
			default:
				ck.add(pt.t.key, "%v", e)
			}
		}
	}
}

// joined splits what errors.Join put together (not an *Errors, whose
// Unwrap gives the causes of its problems).
func joined(err error) []error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Errors); ok {
		return []error{err}
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, joined(e)...)
	}
	return out
}

// checker collects problems, giving each the line of its key.
type checker struct {
	file      string
	lines     lineIndex
	probs     []Problem
	handlerOK map[int]bool // workers whose handler hook can run
	code      bool         // checking workers defined in code (AddCode)
}

func (ck *checker) add(key, format string, args ...any) {
	ck.probs = append(ck.probs, Problem{File: ck.file, Line: ck.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (ck *checker) table(path string, m map[string]any) *table {
	return &table{ck: ck, at: path, m: m, used: map[string]bool{}}
}

// table reads the keys of one TOML table, noting which were read so the
// rest can be reported as unknown.
type table struct {
	ck   *checker
	at   string
	m    map[string]any
	used map[string]bool
}

func (t *table) key(k string) string { return joinKey(t.at, k) }

func (t *table) has(k string) bool { _, ok := t.m[k]; return ok }

func (t *table) get(k string) (any, bool) {
	t.used[k] = true
	v, ok := t.m[k]
	return v, ok
}

func (t *table) wrongType(k, want string, v any) {
	t.ck.add(t.key(k), "must be %s, not %s", want, typeName(v))
}

// str sets *dst and returns true when key k is present and a string.
func (t *table) str(k string, dst *string) bool {
	v, ok := t.get(k)
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		t.wrongType(k, "a string", v)
		return false
	}
	*dst = s
	return true
}

// path reads a file path: a non-empty string without NUL bytes.
func (t *table) path(k string, dst *string) {
	var s string
	if !t.str(k, &s) {
		return
	}
	switch {
	case s == "":
		t.ck.add(t.key(k), "must not be empty (leave the key out for the default)")
	case strings.IndexByte(s, 0) >= 0:
		t.ck.add(t.key(k), "must not contain NUL bytes")
	default:
		*dst = s
	}
}

func (t *table) oneOf(k string, dst *string, what string, allowed []string) {
	var s string
	if !t.str(k, &s) {
		return
	}
	if !slices.Contains(allowed, s) {
		t.ck.add(t.key(k), "%q is not %s (want %s)", s, what, orList(allowed))
		return
	}
	*dst = s
}

func (t *table) boolean(k string, dst *bool) {
	v, ok := t.get(k)
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		t.wrongType(k, "a boolean (true or false)", v)
		return
	}
	*dst = b
}

// integer sets *dst to key k when it is an integer of at least lowest;
// hint explains the lower bound.
func (t *table) integer(k string, dst *int, lowest int, hint string) {
	v, ok := t.get(k)
	if !ok {
		return
	}
	n, ok := v.(int64)
	if !ok {
		t.wrongType(k, "an integer", v)
		return
	}
	switch {
	case n < int64(lowest) && lowest == 0:
		t.ck.add(t.key(k), "must not be negative%s", hint)
	case n < int64(lowest):
		t.ck.add(t.key(k), "must be at least %d%s", lowest, hint)
	case n > math.MaxInt32:
		t.ck.add(t.key(k), "must be at most %d", math.MaxInt32)
	default:
		*dst = int(n)
	}
}

// duration reads a non-negative duration string.
func (t *table) duration(k string, dst *Duration) {
	v, ok := t.get(k)
	if !ok {
		return
	}
	s, ok := v.(string)
	if !ok {
		if _, isInt := v.(int64); isInt {
			t.ck.add(t.key(k), "must be a duration string with a unit, as in \"2s\" or \"500ms\", not %s", typeName(v))
		} else {
			t.wrongType(k, "a duration string, as in \"2s\" or \"500ms\"", v)
		}
		return
	}
	var d Duration
	if err := d.UnmarshalText([]byte(s)); err != nil {
		t.ck.add(t.key(k), "%v", err)
		return
	}
	if d.Duration < 0 {
		t.ck.add(t.key(k), "must not be negative")
		return
	}
	*dst = d
}

// sub reads an optional sub-table owned by someone else.
func (t *table) sub(k, noun string) (Table, bool) {
	tb := Table{key: t.key(k), noun: noun, file: t.ck.file, lines: t.ck.lines}
	v, ok := t.get(k)
	if !ok {
		return tb, true
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.wrongType(k, "a table ([worker."+k+"])", v)
		return tb, false
	}
	tb.raw = m
	return tb, true
}

// workerTables returns the [[worker]] tables; an element that is not a
// table is reported and nil.
func (t *table) workerTables(optional bool) []map[string]any {
	v, ok := t.get("worker")
	if !ok {
		if !optional {
			t.ck.add("worker", "no [[worker]] tables: there is nothing to run")
		}
		return nil
	}
	var list []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		list = x
	case []any:
		list = make([]map[string]any, len(x))
		for i, e := range x {
			if m, ok := e.(map[string]any); ok {
				list[i] = m
			} else {
				t.ck.add(indexKey("worker", i), "must be a table, not %s", typeName(e))
			}
		}
	default:
		t.wrongType("worker", "an array of tables ([[worker]])", v)
		return nil
	}
	if len(list) == 0 && !optional {
		t.ck.add("worker", "no [[worker]] tables: there is nothing to run")
	}
	return list
}

// unknown reports every key that was not read.
func (t *table) unknown(known []string) {
	var extra []string
	for k := range t.m {
		if !t.used[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		t.ck.add(t.key(k), "unknown key%s", suggestion(k, known))
	}
}

func (ck *checker) worker(i int, m map[string]any) *Worker {
	w := &Worker{
		Index:             i,
		Code:              ck.code,
		Transport:         DefaultTransport,
		Count:             1,
		Reloadable:        true,
		Handler:           DefaultHandler,
		MaxPackageSize:    DefaultMaxPackageSize,
		MaxSendBufferSize: DefaultMaxSendBufferSize,
		Backlog:           DefaultBacklog,
		SendTimeout:       Duration{DefaultSendTimeout},
		UID:               -1,
		GID:               -1,
		SocketUID:         -1,
		SocketGID:         -1,
	}
	t := ck.table(w.Key(), m)
	w.Line = ck.lines[t.at]

	if t.str("name", &w.Name) {
		switch {
		case w.Name == "":
			ck.add(t.key("name"), "must not be empty")
		case strings.IndexFunc(w.Name, unicode.IsControl) >= 0:
			ck.add(t.key("name"), "must not contain control characters")
		}
	} else if !t.has("name") {
		ck.add(t.key("name"), "missing: every worker needs a name")
	}

	if t.str("transport", &w.Transport) {
		switch w.Transport {
		case "tcp", "unix", "udp", "ssl":
		default:
			ck.add(t.key("transport"), "unknown transport %q (want tcp, ssl, udp or unix)", w.Transport)
		}
	}
	if t.str("listen", &w.Listen) {
		ck.listen(w, t)
	} else if !t.has("listen") && !ck.code {
		// (A worker defined in code may listen on nothing: processes
		// for timers and clients, as Workerman's new Worker().)
		ck.add(t.key("listen"), "missing: every worker needs a listen address, such as \"text://0.0.0.0:2347\"")
	}

	t.integer("count", &w.Count, 1, "")
	if t.str("user", &w.User) {
		ck.user(w, t.key("user"))
	}
	if t.str("group", &w.Group) {
		ck.group(w, t.key("group"))
	}
	t.boolean("reuse_port", &w.ReusePort)
	t.boolean("reloadable", &w.Reloadable)
	handlerOK := false
	if t.str("handler", &w.Handler) {
		if w.Handler == "" {
			ck.add(t.key("handler"), "must not be empty (leave it out for %q)", DefaultHandler)
		} else {
			handlerOK = true
		}
	} else if !t.has("handler") {
		handlerOK = true
	}
	t.integer("max_package_size", &w.MaxPackageSize, 1, " (leave it out for the default, 10 MiB)")
	t.integer("max_send_buffer_size", &w.MaxSendBufferSize, 1, " (leave it out for the default, 1 MiB)")
	t.integer("max_connections", &w.MaxConnections, 0, " (0 means no limit)")
	t.integer("max_requests", &w.MaxRequests, 0, " (0 means never restart)")
	t.integer("backlog", &w.Backlog, 1, " (leave it out for the default, 102400)")
	t.integer("memory_limit", &w.MemoryLimit, 0, " (bytes; 0 means no limit)")
	t.duration("idle_timeout", &w.IdleTimeout)
	t.duration("send_timeout", &w.SendTimeout)
	ck.udpKeys(w, t)
	ck.socketKeys(w, t)
	ck.proxyProtocol(w, t)
	var optionsOK bool
	w.Options, optionsOK = t.sub("options", "option")
	w.HTTP, _ = t.sub("http", "key")
	w.WebSocket, _ = t.sub("websocket", "key")
	ck.tlsTable(w, t)
	t.unknown(workerKeys)

	if ck.handlerOK == nil {
		ck.handlerOK = map[int]bool{}
	}
	ck.handlerOK[i] = handlerOK && optionsOK
	return w
}

// listen parses w.Listen into w.Addr and checks its protocol.
func (ck *checker) listen(w *Worker, t *table) {
	key := t.key("listen")
	a, err := listenaddr.ParseListen(w.Listen)
	if err != nil {
		ck.add(key, "%v", err)
		return
	}
	if !ck.sslTransport(w, &a, t) || !ck.unixTransport(w, &a, t) || !ck.udpTransport(w, &a, t) {
		return
	}
	w.Addr = a
	if _, ok := codec.Lookup(a.Scheme); !ok {
		names := codec.Names()
		known := "none"
		if len(names) > 0 {
			known = strings.Join(names, ", ")
		}
		ck.add(key, "unknown protocol %q in %q (registered: %s)", a.Scheme, w.Listen, known)
	}
}

func (ck *checker) user(w *Worker, key string) {
	if w.User == "" {
		ck.add(key, "must not be empty (leave it out to run as the master's user)")
		return
	}
	u, err := user.Lookup(w.User)
	if err != nil && isDigits(w.User) {
		u, err = user.LookupId(w.User)
	}
	if err != nil {
		ck.add(key, "%s", lookupMsg("user", w.User, err))
		return
	}
	w.UID, _ = strconv.Atoi(u.Uid)
	if w.Group == "" {
		w.GID, _ = strconv.Atoi(u.Gid)
	}
}

func (ck *checker) group(w *Worker, key string) {
	if w.Group == "" {
		ck.add(key, "must not be empty (leave it out for the user's primary group)")
		return
	}
	g, err := user.LookupGroup(w.Group)
	if err != nil && isDigits(w.Group) {
		g, err = user.LookupGroupId(w.Group)
	}
	if err != nil {
		ck.add(key, "%s", lookupMsg("group", w.Group, err))
		return
	}
	w.GID, _ = strconv.Atoi(g.Gid)
}

func lookupMsg(what, name string, err error) string {
	var uu user.UnknownUserError
	var ug user.UnknownGroupError
	var uid user.UnknownUserIdError
	var gid user.UnknownGroupIdError
	if errors.As(err, &uu) || errors.As(err, &ug) || errors.As(err, &uid) || errors.As(err, &gid) {
		return fmt.Sprintf("no such %s %q", what, name)
	}
	return fmt.Sprintf("cannot look up %s %q: %v", what, name, err)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func (ck *checker) proxyProtocol(w *Worker, t *table) {
	v, ok := t.get("proxy_protocol")
	if !ok {
		return
	}
	list, ok := v.([]any)
	if !ok {
		t.wrongType("proxy_protocol", "an array of IP addresses or CIDR prefixes", v)
		return
	}
	w.ProxyProtocol = []string{}
	w.ProxyPrefixes = []netip.Prefix{}
	for j, e := range list {
		key := indexKey(t.key("proxy_protocol"), j)
		s, ok := e.(string)
		if !ok {
			ck.add(key, "must be a string, not %s", typeName(e))
			continue
		}
		p, err := parseSource(s)
		if err != nil {
			ck.add(key, "%q is not an IP address or CIDR prefix", s)
			continue
		}
		w.ProxyProtocol = append(w.ProxyProtocol, s)
		w.ProxyPrefixes = append(w.ProxyPrefixes, p)
	}
}

// parseSource parses "10.0.0.0/8" or "10.1.2.3" into a prefix.
func parseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned address")
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// crossCheck finds duplicate names and listen addresses that would collide.
func (ck *checker) crossCheck(ws []*Worker) {
	names := map[string]*Worker{}
	for _, w := range ws {
		if w.Name == "" {
			continue
		}
		if first, dup := names[w.Name]; dup && w.Code == ck.code {
			ck.add(joinKey(w.Key(), "name"), "duplicate worker name %q (also %s%s)", w.Name, first.Key(), lineNote(first.Line))
			continue
		}
		names[w.Name] = w
	}
	for j, b := range ws {
		if !b.Addr.IP.IsValid() && !b.Addr.IsPath() || b.Code != ck.code {
			continue // (the file's workers are checked without the program's)
		}
		for _, a := range ws[:j] {
			taken := b.Addr.AddrPort().String()
			if b.Addr.IsPath() {
				taken = b.Addr.Path
			}
			if a.Addr.IP.IsValid() && b.Addr.IP.IsValid() && addrsCollide(a, b) || pathCollides(a.Addr, b.Addr) {
				ck.add(joinKey(b.Key(), "listen"), "%s is already taken by %s %q (%s%s)",
					taken, a.Key(), a.Name, a.Listen, lineNote(ck.lines.line(joinKey(a.Key(), "listen"))))
				break
			}
		}
	}
}

func lineNote(line int) string {
	if line <= 0 {
		return ""
	}
	return ", line " + strconv.Itoa(line)
}

// addrsCollide reports whether two workers' listening sockets could not
// both be bound: the same protocol, the same port (not 0) and the same IP,
// or one of them the wildcard covering the other (see wildcardCovers). TCP
// and UDP ports are separate namespaces, so a TCP worker and a UDP worker
// share ip:port as a Workerman server often does (an HTTP API beside a UDP
// feed on one port).
func addrsCollide(a, b *Worker) bool {
	if a.Addr.Port != b.Addr.Port || a.Addr.Port == 0 || (a.Transport == "udp") != (b.Transport == "udp") {
		return false
	}
	ai, bi := a.Addr.IP.Unmap(), b.Addr.IP.Unmap()
	return wildcardCovers(ai, a.IPv6Only, bi) || wildcardCovers(bi, b.IPv6Only, ai)
}

// runHandlerHook lets the caller build w's handler and files its complaints
// under worker[i].handler or worker[i].options.
func (ck *checker) runHandlerHook(w *Worker, hook func(string, func(any) error) error) {
	called := false
	var decodeErr error
	decode := func(into any) error {
		called = true
		decodeErr = w.DecodeOptions(into)
		return decodeErr
	}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("handler %q panicked: %v", w.Handler, r)
			}
		}()
		return hook(w.Handler, decode)
	}()
	var errs *Errors
	switch {
	case decodeErr != nil && errors.As(decodeErr, &errs):
		ck.probs = append(ck.probs, errs.Problems...)
	case err == nil:
	case called && w.Options.Defined():
		ck.add(w.Options.key, "%v", err)
	default:
		ck.add(joinKey(w.Key(), "handler"), "%v", err)
	}
}

// orList formats "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
