package depcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// rules is the map of the house: which of our packages may import which.
// Names are import paths below the module path; a name without lower-case
// letters is a group, a shorthand that is no package.
//
// A statement "a, b < c, d;" lets c and d import a and b, and whatever a
// and b may import. Every package is declared exactly once, on the right of
// one statement, and only names declared earlier may stand on the left, so
// the table reads bottom up and cannot describe a cycle. "NONE < x;"
// declares x as importing nothing of ours.
//
// Only non-test imports are held to the table. A package that no statement
// puts on a left side (internal/logging/logtest) can therefore be imported
// by tests alone.
//
// Every package of the module must be declared here: a new package fails
// the test until someone decides where it belongs.
const rules = `
# The public types, and what they stand on. codec imports nothing of ours,
# so a protocol in a user's module needs nothing else; http nothing but
# its parser and the slot where it leaves the server its unexported
# operations, so handlers and tests build requests without a server;
# websocket nothing but http, whose Header a client's handshake adds.
NONE < codec, internal/httpparse, internal/httpaccess;
# PHP's serialize() format, the payload of GlobalData and Channel.
NONE < phpserialize;
internal/httpparse, internal/httpaccess < http;
http < websocket;

# Internal leaves.
NONE < internal/counters, internal/listenaddr, internal/wsdeflate;
# [worker.tls] into a crypto/tls config: the standard library only.
NONE < internal/tlsconfig;
NONE < internal/logging/logtest;
# Certificates made by tests (a test CA, server pairs): tests only.
NONE < internal/testcert;
# The real servers tests start (redis-server, nats-server, mariadbd...):
# tests only.
NONE < internal/testserver;

# The frame codec speaks the public close codes: one CloseCode type for
# handlers and for the wire.
websocket < internal/wsframe;

# Packages on Linux interfaces import linuxonly, which stops a build for
# another system with one message.
NONE < internal/linuxonly;
internal/linuxonly < internal/logging, internal/pidfile, internal/sdnotify;
internal/linuxonly, internal/counters < internal/ipc;

# Listening sockets and socket addresses, for the loop and the master.
internal/linuxonly < internal/sockets;

# inotify watches for [monitor]: knows files, not workers; the master
# reloads on what it reports.
internal/linuxonly < internal/filemonitor;

# The reactor knows sockets and codecs, nothing about workers.
codec, internal/counters, internal/linuxonly,
internal/sockets < internal/netloop;

# Protocols and configuration: built on the public types, below workerman.
codec < internal/protocol, internal/proxyproto;
codec, http, internal/httpaccess, internal/logging
  < internal/protocol/httpproto;
codec, http, websocket, internal/httpaccess, internal/wsframe,
internal/wsdeflate < internal/protocol/wsproto;
codec, internal/listenaddr, internal/tlsconfig < internal/config;

# The two ends of a child's channel, each on its own over internal/ipc.
internal/ipc < internal/child;
# The supervisor; it alone imports the Prometheus client, for [metrics]
# (thirdparty_test.go).
internal/config, internal/filemonitor, internal/ipc, internal/logging,
internal/sockets < internal/master;

# The command line: the master, or a child's slot (run by the caller). It
# checks the [worker.http] and [worker.websocket] tables of a config; what
# only the public API knows (handlers, workers defined in code, a child's
# runtime) it is handed by workerman.RunAll, its one caller.
http, websocket, internal/config, internal/ipc, internal/logging,
internal/master, internal/pidfile, internal/sdnotify,
internal/tlsconfig < internal/cliapp;

# The public API: one process's workers on one loop. The supervisor
# (internal/master) is not below it; only the command line reaches that.
codec, http, websocket,
internal/child, internal/cliapp, internal/config, internal/ipc,
internal/listenaddr,
internal/logging, internal/netloop, internal/protocol,
internal/protocol/httpproto, internal/protocol/wsproto,
internal/proxyproto, internal/sockets, internal/tlsconfig < workerman;

# Handlers and helpers for them: written as a user's module would be
# (asUser below keeps internal packages out of them).
workerman, codec, http, websocket
  < handlers/demo, handlers/echo, handlers/respond, handlers/static,
    http/session;
# The GlobalData server speaks PHP's serialize().
workerman, phpserialize < handlers/globaldata;
# The Channel server speaks PHP's serialize().
workerman, phpserialize < handlers/channel;
handlers/channel, handlers/demo, handlers/echo, handlers/globaldata,
handlers/respond, handlers/static, http/session < HANDLERS;

# Workerman's Channel client for Go: public, on the loop of workerman,
# its payloads PHP's serialize().
workerman, phpserialize < channel;
# The stock broadcast handler publishes through a channel client; it sits
# above the channel package, so it joins the binaries' rule itself rather
# than HANDLERS.
workerman, channel, websocket < handlers/broadcast;
# The stock exec handler runs a program per process (os/exec) and speaks
# JSON lines with it; http for the requests of http:// workers.
workerman, channel, http, websocket < handlers/exec;
# The stock push handler: an HTTP API sending through a channel client.
workerman, channel, http < handlers/push;
# Workerman's GlobalData client for Go: on the loop, or blocking.
workerman, phpserialize < globaldata;

# Tests of handlers run their workers with workermantest, as tests of
# net/http handlers use net/http/httptest.
workerman < workerman/workermantest;

# Binaries: the stock one, and the integration tests' custom ones, each
# workerman.RunAll plus handler packages.
HANDLERS, handlers/broadcast, handlers/exec, handlers/push, workerman, codec,
http, websocket
  < cmd/workermand, test/crashd, test/handoverd, test/httpd;

# The man page generator (make man): the command tree, rendered.
internal/cliapp < internal/tools/mangen;

# Packages of tests only.
NONE < test, internal/depcheck;
`

// asUser lists packages written as if they were in another module, which
// could not import our internal packages: the stock handlers are examples
// for users' own, and the custom binaries under test/ prove that a daemon
// builds from the public API alone.
var asUser = []string{
	"cmd/workermand",
	"handlers/demo", "handlers/echo", "handlers/respond", "handlers/static",
	"handlers/channel", "channel", "handlers/broadcast", "handlers/exec",
	"handlers/push", "handlers/globaldata", "globaldata",
	"http/session",
	"test/crashd", "test/handoverd", "test/httpd",
}

// platforms are the systems whose import graphs are checked; files for one
// system may import what files for another do not.
var platforms = []struct{ goos, goarch string }{
	{"linux", ""},       // the host's architecture
	{"darwin", "arm64"}, // where handler authors may build
}

// table is the parsed rules.
type table struct {
	may   map[string]map[string]bool // name → packages it may import
	stmt  map[string]string          // name → the statement declaring it
	order []string                   // declared names, in table order
}

func isGroup(name string) bool { return strings.ToUpper(name) == name }

func parseRules(text string) (*table, error) {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		lines = append(lines, line)
	}
	t := &table{may: map[string]map[string]bool{}, stmt: map[string]string{}}
	for _, s := range strings.Split(strings.Join(lines, "\n"), ";") {
		s = strings.Join(strings.Fields(s), " ")
		if s == "" {
			continue
		}
		lower, upper, ok := strings.Cut(s, " < ")
		if !ok || strings.Contains(upper, "<") {
			return nil, fmt.Errorf("rule %q: want \"a, b < c, d\"", s)
		}
		may := map[string]bool{}
		for _, name := range strings.Split(lower, ",") {
			name = strings.TrimSpace(name)
			if name == "NONE" {
				continue
			}
			below, ok := t.may[name]
			if !ok {
				return nil, fmt.Errorf("rule %q: %s is not declared by an earlier rule", s, name)
			}
			if !isGroup(name) {
				may[name] = true
			}
			for p := range below {
				may[p] = true
			}
		}
		for _, name := range strings.Split(upper, ",") {
			name = strings.TrimSpace(name)
			if name == "" || name == "NONE" {
				return nil, fmt.Errorf("rule %q: empty or NONE on the right", s)
			}
			if prev, dup := t.stmt[name]; dup {
				return nil, fmt.Errorf("%s is declared twice: in %q and %q", name, prev, s)
			}
			t.may[name], t.stmt[name] = may, s
			t.order = append(t.order, name)
		}
	}
	return t, nil
}

// graph maps each package of the module to its non-test imports of our
// packages; all paths are below the module path.
type graph map[string][]string

// check returns one line per broken rule.
func check(t *table, g graph) []string {
	var bad []string
	for _, p := range slices.Sorted(maps.Keys(g)) {
		if _, ok := t.may[p]; !ok || isGroup(p) {
			bad = append(bad, fmt.Sprintf("package %s is not in the rules table; add a rule declaring it, below what it imports (%s)",
				p, listOrNone(g[p])))
			continue
		}
		for _, imp := range g[p] {
			if !t.may[p][imp] {
				bad = append(bad, fmt.Sprintf("%s imports %s, which its rule %q does not allow", p, imp, t.stmt[p]))
			}
		}
	}
	for _, p := range asUser {
		for _, imp := range g[p] {
			if strings.HasPrefix(imp, "internal/") {
				bad = append(bad, fmt.Sprintf("%s imports %s: it is written as a user's module would be, and another module cannot import our internal packages", p, imp))
			}
		}
	}
	for _, p := range t.order {
		if _, ok := g[p]; !ok && !isGroup(p) {
			bad = append(bad, fmt.Sprintf("the rules table declares %s, which is not a package of the module (any more?)", p))
		}
	}
	return bad
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "nothing of ours"
	}
	return strings.Join(s, ", ")
}

// goTool finds the go command; go test puts its own first on PATH.
func goTool(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the packages with: %v", err)
	}
	return gobin
}

func run(t *testing.T, gobin, dir string, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(gobin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s (%s): %v\n%s", strings.Join(args, " "), strings.Join(env, " "), err, stderr.Bytes())
	}
	return out
}

// loadGraph lists every package of the module, for each platform, and
// merges their imports of our packages.
func loadGraph(t *testing.T) graph {
	gobin := goTool(t)
	var mod struct{ Path, Dir string }
	if err := json.Unmarshal(run(t, gobin, ".", nil, "list", "-m", "-json"), &mod); err != nil || mod.Path == "" || mod.Dir == "" {
		t.Fatalf("go list -m: %+v, %v", mod, err)
	}
	prefix := mod.Path + "/"
	g := graph{}
	for _, pl := range platforms {
		env := []string{"GOOS=" + pl.goos}
		if pl.goarch != "" {
			env = append(env, "GOARCH="+pl.goarch)
		}
		out := run(t, gobin, mod.Dir, env, "list", "-e", "-json=ImportPath,Imports,Error", "./...")
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p struct {
				ImportPath string
				Imports    []string
				Error      *struct{ Err string }
			}
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("go list -json output: %v", err)
			}
			if p.Error != nil && !strings.Contains(p.Error.Err, "build constraints exclude all Go files") {
				t.Fatalf("go list, %s: %s: %s", strings.Join(env, " "), p.ImportPath, p.Error.Err)
			}
			rel, ok := strings.CutPrefix(p.ImportPath, prefix)
			if !ok {
				t.Fatalf("go list ./... in %s listed %s, outside module %s", mod.Dir, p.ImportPath, mod.Path)
			}
			imps := g[rel]
			for _, imp := range p.Imports {
				if r, ok := strings.CutPrefix(imp, prefix); ok && !slices.Contains(imps, r) {
					imps = append(imps, r)
				}
			}
			sort.Strings(imps)
			g[rel] = imps
		}
	}
	return g
}

func TestImportRules(t *testing.T) {
	tab, err := parseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	g := loadGraph(t)
	// The rules below are only as good as the graph: make sure it is the
	// module's, with its edges.
	for _, edge := range [][2]string{
		{"cmd/workermand", "workerman"},
		{"workerman", "internal/netloop"},
		{"internal/netloop", "codec"},
	} {
		if !slices.Contains(g[edge[0]], edge[1]) {
			t.Fatalf("the loaded graph lacks %s → %s (it has %d packages): loading is broken", edge[0], edge[1], len(g))
		}
	}
	for _, line := range check(tab, g) {
		t.Error(line)
	}
}

// The checker itself: each kind of breach is reported.
func TestCheckReportsBreaches(t *testing.T) {
	tab, err := parseRules(`
		NONE < codec, internal/x;
		codec < http;
		http < handlers/h;
		internal/x < http/session;
		handlers/h < BIN;
		BIN < cmd/c, gone;`)
	if err != nil {
		t.Fatal(err)
	}
	got := check(tab, graph{
		"codec":          {"http"},                // upward
		"http":           {"codec"},               // allowed
		"handlers/h":     {"codec"},               // allowed through http
		"cmd/workermand": {"handlers/h"},          // not in the table
		"cmd/c":          {"handlers/h", "codec"}, // allowed through the group
		"internal/x":     nil,
		"http/session":   {"internal/x"}, // allowed, but internal
	})
	want := []string{
		`cmd/workermand is not in the rules table`,
		`codec imports http, which its rule "NONE < codec, internal/x" does not allow`,
		`http/session imports internal/x: it is written as a user's module would be`,
		`declares gone, which is not a package`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d reports, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("report %d: %q lacks %q", i, got[i], want[i])
		}
	}

	for _, bad := range []string{
		"codec < http;",       // codec not declared yet
		"NONE < a; NONE < a;", // declared twice
		"NONE < a < b;",       // two arrows
		"a",                   // no arrow
	} {
		if _, err := parseRules(bad); err == nil {
			t.Errorf("parseRules(%q) accepted it", bad)
		}
	}
}
