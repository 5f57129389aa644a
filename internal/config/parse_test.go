package config_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/config"
)

func mustParse(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(src), "test.toml", testHooks)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

func problems(t *testing.T, src string) []config.Problem {
	t.Helper()
	c, err := config.Parse([]byte(src), "test.toml", testHooks)
	if err == nil {
		t.Fatalf("Parse succeeded: %+v", c)
	}
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not *config.Errors: %v", err, err)
	}
	if c != nil {
		t.Errorf("Parse returned a config with its error")
	}
	return errs.Problems
}

const w0 = "[[worker]]\nname = \"w\"\nlisten = \"text://0.0.0.0:2347\"\n"

func TestDefaults(t *testing.T) {
	c := mustParse(t, w0)
	if c.StopTimeout.Duration != 2*time.Second || c.GracefulTimeout.Duration != 30*time.Second {
		t.Errorf("timeouts = %v, %v; want 2s, 30s", c.StopTimeout, c.GracefulTimeout)
	}
	if c.LogLevel != "info" || c.LogFormat != "console" || c.StdoutFile != "/dev/null" {
		t.Errorf("log_level %q, log_format %q, stdout_file %q", c.LogLevel, c.LogFormat, c.StdoutFile)
	}
	if c.PidFile != "" || c.ControlSocket != "" || c.LogFile != "" {
		t.Errorf("paths filled before Resolve: %q %q %q", c.PidFile, c.ControlSocket, c.LogFile)
	}
	if len(c.Workers) != 1 {
		t.Fatalf("%d workers", len(c.Workers))
	}
	w := c.Workers[0]
	want := config.Worker{
		Index: 0, Line: 1, Name: "w", Listen: "text://0.0.0.0:2347", Transport: "tcp", Count: 1,
		Reloadable: true, Handler: "echo", MaxPackageSize: 10 << 20, MaxSendBufferSize: 1 << 20,
		Backlog: 102400, SendTimeout: config.Duration{Duration: 60 * time.Second}, UID: -1, GID: -1,
		SocketUID: -1, SocketGID: -1,
	}
	got := *w
	if got.Addr.Scheme != "text" || got.Addr.AddrPort() != netip.MustParseAddrPort("0.0.0.0:2347") {
		t.Errorf("Addr = %+v", got.Addr)
	}
	got.Addr = want.Addr
	got.Options, got.HTTP, got.WebSocket = want.Options, want.HTTP, want.WebSocket
	if !reflect.DeepEqual(got, want) {
		t.Errorf("worker defaults:\n got %+v\nwant %+v", got, want)
	}
	if w.Options.Defined() || w.HTTP.Defined() || w.WebSocket.Defined() {
		t.Error("absent tables are Defined")
	}
	if w.Key() != "worker[0]" {
		t.Errorf("Key() = %q", w.Key())
	}
	if string(c.Source) != w0 {
		t.Errorf("Source = %q", c.Source)
	}
	if abs, _ := filepath.Abs("test.toml"); c.Path != abs {
		t.Errorf("Path = %q, want %q", c.Path, abs)
	}
}

// TestAbsentOrZero tells a key left out (the default) from one set to zero
// (valid or not, depending on the key).
func TestAbsentOrZero(t *testing.T) {
	c := mustParse(t, "stop_timeout = \"0\"\ngraceful_timeout = \"0s\"\n"+w0+"max_connections = 0\nidle_timeout = \"0\"\nsend_timeout = \"0\"\nreloadable = false\n")
	if c.StopTimeout.Duration != 0 || c.GracefulTimeout.Duration != 0 {
		t.Errorf("zero timeouts became %v, %v", c.StopTimeout, c.GracefulTimeout)
	}
	w := c.Workers[0]
	if w.MaxConnections != 0 || w.IdleTimeout.Duration != 0 || w.SendTimeout.Duration != 0 || w.Reloadable {
		t.Errorf("worker = %+v", w)
	}
	for _, tc := range []struct{ key, want string }{
		{"count = 0", "worker[0].count: must be at least 1"},
		{"max_package_size = 0", "worker[0].max_package_size: must be at least 1"},
		{"max_send_buffer_size = 0", "worker[0].max_send_buffer_size: must be at least 1"},
		{"backlog = 0", "worker[0].backlog: must be at least 1"},
	} {
		ps := problems(t, w0+tc.key+"\n")
		if len(ps) != 1 || !strings.HasPrefix(ps[0].Key+": "+ps[0].Msg, tc.want) || ps[0].Line != 4 {
			t.Errorf("%s: problems %v, want one on line 4: %s", tc.key, ps, tc.want)
		}
	}
}

// TestRules checks each rule on a small file: the key, the line and the
// message of the one problem it reports.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		key       string
		line      int
		msg       string // a substring
	}{
		{"syntax", "a = \n", "", 1, "expected value"},
		{"unknown global", "pid_flie = \"x\"\n" + w0, "pid_flie", 1, `unknown key (did you mean "pid_file"?)`},
		{"unknown worker key", w0 + "cuont = 2\n", "worker[0].cuont", 4, `did you mean "count"`},
		{"unknown table", w0 + "[worker.ssl]\ncert = \"x\"\n", "worker[0].ssl", 4, "unknown key"},
		{"wrong type", w0 + "count = \"2\"\n", "worker[0].count", 4, "must be an integer, not a string"},
		{"no workers", "log_level = \"info\"\n", "worker", 0, "nothing to run"},
		{"missing name", "[[worker]]\nlisten = \"text://0.0.0.0:1\"\n", "worker[0].name", 1, "missing"},
		{"missing listen", "[[worker]]\nname = \"a\"\n", "worker[0].listen", 1, "missing"},
		{"duplicate name", w0 + "[[worker]]\nname = \"w\"\nlisten = \"text://0.0.0.0:2\"\n", "worker[1].name", 5, `duplicate worker name "w" (also worker[0], line 1)`},
		{"host name", "[[worker]]\nname = \"a\"\nlisten = \"text://localhost:1\"\n", "worker[0].listen", 3, "must be an IP address"},
		{"unknown protocol", "[[worker]]\nname = \"a\"\nlisten = \"mqtt://0.0.0.0:1\"\n", "worker[0].listen", 3, `unknown protocol "mqtt"`},
		{"http over udp", "[[worker]]\nname = \"a\"\nlisten = \"http://0.0.0.0:1\"\ntransport = \"udp\"\n", "worker[0].listen", 3, "http:// cannot run over UDP"},
		{"udp contradicted", "[[worker]]\nname = \"a\"\nlisten = \"udp://0.0.0.0:1\"\ntransport = \"tcp\"\n", "worker[0].transport", 4, "contradicts"},
		{"unix path without transport", "[[worker]]\nname = \"a\"\nlisten = \"text:///tmp/a.sock\"\n", "worker[0].listen", 3, `set transport = "unix"`},
		{"transport ssl without certificates", w0 + "transport = \"ssl\"\n", "worker[0].transport", 4, "a TLS worker needs certificates, and worker[0].tls.certificates is missing"},
		{"transport unknown", w0 + "transport = \"quic\"\n", "worker[0].transport", 4, "unknown transport"},
		{"same listen", w0 + "[[worker]]\nname = \"b\"\nlisten = \"frame://0.0.0.0:2347\"\n", "worker[1].listen", 6, `already taken by worker[0] "w"`},
		{"wildcard v6 covers v4", "[[worker]]\nname = \"a\"\nlisten = \"text://127.0.0.1:9\"\n[[worker]]\nname = \"b\"\nlisten = \"text://[::]:9\"\n", "worker[1].listen", 6, "already taken"},
		{"count", w0 + "count = -3\n", "worker[0].count", 4, "must be at least 1"},
		{"negative size", w0 + "max_package_size = -1\n", "worker[0].max_package_size", 4, "at least 1"},
		{"negative connections", w0 + "max_connections = -1\n", "worker[0].max_connections", 4, "must not be negative"},
		{"negative memory_limit", w0 + "memory_limit = -1\n", "worker[0].memory_limit", 4, "must not be negative"},
		{"memory_limit with a unit", w0 + "memory_limit = \"512MiB\"\n", "worker[0].memory_limit", 4, "must be an integer"},
		{"negative timeout", w0 + "idle_timeout = \"-5s\"\n", "worker[0].idle_timeout", 4, "must not be negative"},
		{"negative send_timeout", w0 + "send_timeout = \"-1s\"\n", "worker[0].send_timeout", 4, "must not be negative"},
		{"send_timeout as number", w0 + "send_timeout = 60\n", "worker[0].send_timeout", 4, "with a unit"},
		{"send_timeout without unit", w0 + "send_timeout = \"60\"\n", "worker[0].send_timeout", 4, `invalid duration "60"`},
		{"negative stop_timeout", "stop_timeout = \"-1s\"\n" + w0, "stop_timeout", 1, "must not be negative"},
		{"duration without unit", "graceful_timeout = \"30\"\n" + w0, "graceful_timeout", 1, `invalid duration "30"`},
		{"duration as number", "stop_timeout = 2\n" + w0, "stop_timeout", 1, "with a unit"},
		{"log_level", "log_level = \"trace\"\n" + w0, "log_level", 1, "want debug, info, warn or error"},
		{"log_format", "log_format = \"text\"\n" + w0, "log_format", 1, "want console or json"},
		{"no such user", w0 + "user = \"no-such-user-wm\"\n", "worker[0].user", 4, `no such user "no-such-user-wm"`},
		{"no such group", w0 + "group = \"no-such-group-wm\"\n", "worker[0].group", 4, `no such group "no-such-group-wm"`},
		{"unknown handler", w0 + "handler = \"nope\"\n", "worker[0].handler", 4, `unknown handler "nope"`},
		{"unknown option", w0 + "handler = \"greeter\"\n[worker.options]\ngreting = \"x\"\n", "worker[0].options.greting", 6, `unknown option (did you mean "greeting"?)`},
		{"option type", w0 + "handler = \"greeter\"\noptions = { repeat = true }\n", "worker[0].options.repeat", 5, "must be an integer, not a boolean"},
		{"option validation", w0 + "handler = \"greeter\"\n\n[worker.options]\nrepeat = -1\n", "worker[0].options", 6, "repeat must not be negative"},
		{"options for echo", w0 + "options.x = 1\n", "worker[0].options.x", 4, "unknown option"},
		{"options not a table", w0 + "options = 1\n", "worker[0].options", 4, "must be a table ([worker.options])"},
		{"proxy_protocol", w0 + "proxy_protocol = [\"1.2.3.4\", \"1.2.3.0/24\", \"nope\"]\n", "worker[0].proxy_protocol[2]", 4, `"nope" is not an IP address or CIDR prefix`},
		{"tcp transport on unix://", unixW + "transport = \"tcp\"\n", "worker[0].transport", 4, "contradicts"},
		{"unix transport on a port", "[[worker]]\nname = \"a\"\nlisten = \"text://0.0.0.0:1\"\ntransport = \"unix\"\n", "worker[0].transport", 4, "listens on a socket path"},
		{"relative path", "[[worker]]\nname = \"a\"\nlisten = \"unix://a.sock\"\n", "worker[0].listen", 3, "a unix address is a path"},
		{"path too long", "[[worker]]\nname = \"a\"\nlisten = \"unix:///" + strings.Repeat("x", 120) + "\"\n", "worker[0].listen", 3, "longer than the 107"},
		{"same path", unixW + "[[worker]]\nname = \"b\"\nlisten = \"text:///tmp/wm.sock\"\ntransport = \"unix\"\n", "worker[1].listen", 6, `/tmp/wm.sock is already taken by worker[0] "u"`},
		{"mode not octal", unixW + "socket_mode = \"rw-rw----\"\n", "worker[0].socket_mode", 4, "not an octal mode"},
		{"mode as number", unixW + "socket_mode = 660\n", "worker[0].socket_mode", 4, "must be a string"},
		{"mode too big", unixW + "socket_mode = \"4777\"\n", "worker[0].socket_mode", 4, "beyond 0777"},
		{"mode without write", unixW + "socket_mode = \"0444\"\n", "worker[0].socket_mode", 4, "write permission"},
		{"mode on tcp", w0 + "socket_mode = \"0660\"\n", "worker[0].socket_mode", 4, "only applies to Unix sockets"},
		{"owner on tcp", w0 + "socket_owner = \"root\"\n", "worker[0].socket_owner", 4, "only applies to Unix sockets"},
		{"no such owner", unixW + "socket_owner = \"no-such-user-wm\"\n", "worker[0].socket_owner", 4, `no such user "no-such-user-wm"`},
		{"no such group", unixW + "socket_group = \"no-such-group-wm\"\n", "worker[0].socket_group", 4, `no such group "no-such-group-wm"`},
		{"reuse_port on unix", unixW + "reuse_port = true\n", "worker[0].reuse_port", 4, "does not apply to Unix sockets"},
		{"ipv6_only on IPv4", w0 + "ipv6_only = true\n", "worker[0].ipv6_only", 4, "only applies to IPv6"},
		{"ipv6_only on unix", unixW + "ipv6_only = false\n", "worker[0].ipv6_only", 4, "only applies to IPv6"},
		{"ipv6_only type", v6W + "ipv6_only = 1\n", "worker[0].ipv6_only", 4, "must be a boolean"},
		{"dual stack covers v4", v6W + "ipv6_only = false\n[[worker]]\nname = \"b\"\nlisten = \"text://0.0.0.0:9\"\n", "worker[1].listen", 7, "already taken"},
		{"v6 only still covers v6", v6W + "ipv6_only = true\n[[worker]]\nname = \"b\"\nlisten = \"text://[::1]:9\"\n", "worker[1].listen", 7, "already taken"},
		{"worker not an array", "[worker]\nname = \"a\"\n", "worker", 1, "must be an array of tables"},
		{"control characters in name", "[[worker]]\nname = \"a\\u0007\"\nlisten = \"text://0.0.0.0:1\"\n", "worker[0].name", 2, "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problems(t, tc.src)
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1:\n%v", len(ps), (&config.Errors{Problems: ps}).Error())
			}
			p := ps[0]
			if p.Key != tc.key || p.Line != tc.line || !strings.Contains(p.Msg, tc.msg) || p.File != "test.toml" {
				t.Errorf("got  %+v\nwant key %q, line %d, message containing %q", p, tc.key, tc.line, tc.msg)
			}
		})
	}
}

// TestManyProblems: every problem of a file comes back at once, in line
// order.
func TestManyProblems(t *testing.T) {
	src := `log_level = "loud"
bogus = 1

[[worker]]
name = "a"
listen = "text://0.0.0.0:1"
count = 0

[[worker]]
name = "a"
listen = "text://0.0.0.0:1"
handler = "nope"
`
	ps := problems(t, src)
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	want := []string{
		`test.toml:1: log_level: "loud" is not a log level (want debug, info, warn or error)`,
		`test.toml:2: bogus: unknown key`,
		`test.toml:7: worker[0].count: must be at least 1`,
		`test.toml:10: worker[1].name: duplicate worker name "a" (also worker[0], line 4)`,
		`test.toml:11: worker[1].listen: 0.0.0.0:1 is already taken by worker[0] "a" (text://0.0.0.0:1, line 6)`,
		`test.toml:12: worker[1].handler: unknown handler "nope" (registered: echo, greeter, panicky)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValues(t *testing.T) {
	data, err := os.ReadFile("testdata/ok-full.toml")
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, string(data))
	if c.LogLevel != "debug" || c.LogFormat != "json" || c.StopTimeout.Duration != 5*time.Second ||
		c.GracefulTimeout.Duration != 90*time.Second || c.PidFile != "run/full.pid" || c.StdoutFile != "out.log" {
		t.Errorf("globals: %+v", c)
	}
	w := c.Workers[0]
	if w.Name != "greeter" || w.Count != 4 || !w.ReusePort || w.Reloadable || w.Handler != "greeter" ||
		w.MaxPackageSize != 65536 || w.MaxSendBufferSize != 262144 || w.MaxConnections != 10000 ||
		w.MaxRequests != 100000 || w.IdleTimeout.Duration != 2*time.Minute || w.SendTimeout.Duration != 15*time.Second || w.Backlog != 511 ||
		w.User != "nobody" || w.Group != "nogroup" || w.UID != 65534 || w.GID != 65534 || w.Line != 11 {
		t.Errorf("worker: %+v", w)
	}
	if w.Addr.Scheme != "frame" || w.Addr.AddrPort() != netip.MustParseAddrPort("[::]:9000") {
		t.Errorf("Addr = %+v", w.Addr)
	}
	wantPrefixes := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.10/32"), netip.MustParsePrefix("fd00::/8")}
	if !reflect.DeepEqual(w.ProxyPrefixes, wantPrefixes) || len(w.ProxyProtocol) != 3 {
		t.Errorf("proxy_protocol = %v / %v", w.ProxyProtocol, w.ProxyPrefixes)
	}
	var o greeterOptions
	if err := w.DecodeOptions(&o); err != nil {
		t.Fatal(err)
	}
	if o != (greeterOptions{Greeting: "hello", Repeat: 2, Delay: config.Duration{Duration: 10 * time.Millisecond}}) {
		t.Errorf("options = %+v", o)
	}
	if !w.HTTP.Defined() || !w.WebSocket.Defined() || w.HTTP.Key() != "worker[0].http" {
		t.Error("http/websocket tables lost")
	}
	var ws struct {
		PingInterval config.Duration `toml:"ping_interval"`
	}
	if err := w.WebSocket.Decode(&ws); err != nil || ws.PingInterval.Duration != 30*time.Second {
		t.Errorf("websocket table: %+v, %v", ws, err)
	}
	if r := c.Workers[1]; r.UID != -1 || r.GID != -1 || r.Addr.Port != 0 || r.Line != 41 {
		t.Errorf("second worker: %+v", r)
	}
	// A group alone keeps the master's user.
	c = mustParse(t, w0+"group = \"nogroup\"\n")
	if w := c.Workers[0]; w.UID != -1 || w.GID != 65534 {
		t.Errorf("group only: uid %d gid %d", w.UID, w.GID)
	}
}

func TestDecodeOptions(t *testing.T) {
	src := w0 + `handler = "greeter"

[worker.options]
greeting = "hi"
Repeat = 3        # the decoder matches field names without regard to case
delay = "1s"
colour = "blue"
nested.deep = 1
`
	c, err := config.Parse([]byte(src), "test.toml", config.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Workers[0]
	var o greeterOptions
	err = w.DecodeOptions(&o)
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("DecodeOptions: %v (%T), want *Errors", err, err)
	}
	want := "test.toml:10: worker[0].options.colour: unknown option\n" +
		"test.toml:11: worker[0].options.nested: unknown option"
	if err.Error() != want {
		t.Errorf("DecodeOptions error:\n%s\nwant\n%s", err, want)
	}

	// Wrong types, and unknown keys reported together with them.
	c = mustParseNoHooks(t, w0+"options = { repeat = \"x\", delay = 5, greting = 1 }\n")
	err = c.Workers[0].DecodeOptions(&greeterOptions{})
	want = "test.toml:4: worker[0].options.delay: invalid duration \"5\": want a number with a unit, as in \"2s\", \"500ms\" or \"1m30s\"\n" +
		"test.toml:4: worker[0].options.repeat: must be an integer, not a string\n" +
		"test.toml:4: worker[0].options.greting: unknown option (did you mean \"greeting\"?)"
	if err == nil || err.Error() != want {
		t.Errorf("DecodeOptions error:\n%v\nwant\n%s", err, want)
	}

	// No table, or an empty one, leaves the defaults, even for a target the
	// decoder could not fill.
	c = mustParseNoHooks(t, w0)
	o = greeterOptions{Greeting: "default"}
	if err := c.Workers[0].DecodeOptions(&o); err != nil || o.Greeting != "default" {
		t.Errorf("absent options: %+v, %v", o, err)
	}
	var notAStruct func()
	if err := c.Workers[0].DecodeOptions(&notAStruct); err != nil {
		t.Errorf("absent options into a func: %v", err)
	}
	c = mustParseNoHooks(t, w0+"[worker.options]\n")
	if !c.Workers[0].Options.Defined() {
		t.Error("empty [worker.options] is not Defined")
	}
	if err := c.Workers[0].DecodeOptions(&o); err != nil {
		t.Errorf("empty options: %v", err)
	}

	// The table as TOML, for code that wants the text.
	c = mustParseNoHooks(t, w0+"[worker.options]\ngreeting = \"hi\"\n")
	text, err := c.Workers[0].Options.TOML()
	if err != nil || strings.TrimSpace(text) != `greeting = "hi"` {
		t.Errorf("TOML() = %q, %v", text, err)
	}
}

func mustParseNoHooks(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(src), "test.toml", config.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHookAttribution: an error before decode is the handler's, after it
// the options'; a hook that swallows a decode error does not hide it.
func TestHookAttribution(t *testing.T) {
	withOptions := w0 + "[worker.options]\nx = 1\n"
	for _, tc := range []struct {
		name, src string
		hook      func(string, func(any) error) error
		want      string
	}{
		{"before decode", w0, func(string, func(any) error) error { return errors.New("no") }, "test.toml:1: worker[0].handler: no"},
		{"after decode, no options", w0, func(_ string, d func(any) error) error { _ = d(&struct{}{}); return errors.New("bad") }, "test.toml:1: worker[0].handler: bad"},
		{"after decode, options", withOptions + "", func(_ string, d func(any) error) error {
			_ = d(&struct{ X int }{})
			return errors.New("x is wrong")
		}, "test.toml:4: worker[0].options: x is wrong"},
		{"swallowed", withOptions, func(_ string, d func(any) error) error { _ = d(&struct{}{}); return nil }, "test.toml:5: worker[0].options.x: unknown option"},
		{"panic", w0, func(string, func(any) error) error { panic("oops") }, `test.toml:1: worker[0].handler: handler "echo" panicked: oops`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.src), "test.toml", config.Hooks{Handler: tc.hook})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
	// The hook sees the handler name, the default included.
	var names []string
	_, err := config.Parse([]byte(w0+"[[worker]]\nname = \"g\"\nlisten = \"text://0.0.0.0:9\"\nhandler = \"greeter\"\n"), "", config.Hooks{
		Handler: func(name string, _ func(any) error) error { names = append(names, name); return nil },
	})
	if err != nil || !reflect.DeepEqual(names, []string{"echo", "greeter"}) {
		t.Errorf("hook saw %v (%v)", names, err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.toml")
	if err := os.WriteFile(path, []byte(w0), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, testHooks)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || string(c.Source) != w0 {
		t.Errorf("Path %q Source %q", c.Path, c.Source)
	}
	_, err = config.Load(filepath.Join(dir, "missing.toml"), testHooks)
	var errs *config.Errors
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &errs) {
		t.Errorf("missing file: %v (%T)", err, err)
	}
	if want := filepath.Join(dir, "missing.toml") + ": no such file or directory"; err.Error() != want {
		t.Errorf("missing file: %q, want %q", err, want)
	}

	// "" is the embedded default, validated with the hooks.
	c, err = config.Load("", testHooks)
	if err != nil || c.Path != "" || len(c.Workers) != 3 {
		t.Fatalf("Load(\"\"): %+v, %v", c, err)
	}
	_, err = config.Load("", config.Hooks{Handler: func(string, func(any) error) error { return errors.New("no echo here") }})
	if err == nil || !strings.HasPrefix(err.Error(), "(embedded default):11: worker[0].handler: no echo here\n") {
		t.Errorf("embedded default with a failing hook: %v", err)
	}
}

func TestDefault(t *testing.T) {
	c := config.Default()
	if c.Path != "" || len(c.Workers) != 3 {
		t.Fatalf("Default() = %+v", c)
	}
	// The echo as it always was, and the demo; on the loopback only.
	for i, want := range []struct{ name, scheme, addr, handler string }{
		{"echo", "text", "127.0.0.1:2347", "echo"},
		{"demo-page", "http", "127.0.0.1:8080", "demo"},
		{"demo-chat", "websocket", "127.0.0.1:8081", "demo"},
	} {
		w := c.Workers[i]
		if w.Name != want.name || w.Addr.Scheme != want.scheme || w.Addr.AddrPort() != netip.MustParseAddrPort(want.addr) ||
			w.Handler != want.handler || w.Count != 1 {
			t.Errorf("default worker %d: %+v, want %+v", i, w, want)
		}
	}
	if string(c.Source) != string(config.DefaultSource()) {
		t.Error("Source is not the embedded text")
	}
	if _, err := config.Parse(config.DefaultSource(), "", testHooks); err != nil {
		t.Errorf("the embedded default does not validate: %v", err)
	}
	// Callers get their own copies.
	c.Workers[0].Name = "changed"
	if config.Default().Workers[0].Name != "echo" {
		t.Error("Default() shares state")
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "2s": 2 * time.Second, "500ms": 500 * time.Millisecond, "1m30s": 90 * time.Second, "-1s": -time.Second} {
		var d config.Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || d.Duration != want {
			t.Errorf("UnmarshalText(%q) = %v, %v", in, d, err)
		}
		text, _ := d.MarshalText()
		var back config.Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %q through %q: %v, %v", in, text, back, err)
		}
	}
	for _, in := range []string{"", "2", "1 s", "soon", "1d"} {
		var d config.Duration
		if err := d.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", in)
		}
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    config.Problem
		want string
	}{
		{config.Problem{File: "a.toml", Line: 3, Key: "worker[1].cuont", Msg: "unknown key"}, "a.toml:3: worker[1].cuont: unknown key"},
		{config.Problem{File: "a.toml", Line: 3, Col: 7, Msg: "bad"}, "a.toml:3:7: bad"},
		{config.Problem{File: "a.toml", Key: "worker", Msg: "none"}, "a.toml: worker: none"},
		{config.Problem{Line: 2, Key: "k", Msg: "m"}, "2: k: m"},
		{config.Problem{Key: "k", Msg: "m"}, "k: m"},
		{config.Problem{Msg: "m"}, "m"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}
