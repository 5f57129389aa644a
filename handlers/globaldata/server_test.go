package globaldata_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	gdserver "github.com/workermand/workermand/handlers/globaldata"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

func frame(p string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p)+4)), p...)
}

func readFrame(t *testing.T, c net.Conn) string {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:])-4)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	return string(b)
}

// serve runs a globaldata worker built from TOML options and returns it
// and its process.
func serve(t *testing.T, options string) (*workerman.Worker, *workerman.Process) {
	t.Helper()
	w := workermantest.HandlerWorker(t, "globaldata", "globaldata", "frame://127.0.0.1:0", options)
	w.Reloadable = false
	return w, workermantest.Start(t, w)
}

func TestWire(t *testing.T) {
	w, p := serve(t, "")
	c := workermantest.Dial(t, w)
	// Pipelined, with a ping in between that gets no reply.
	var in []byte
	for _, r := range []string{
		`a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:1:"k";s:5:"value";a:1:{s:1:"x";d:0.1;}}`,
		"ping",
		`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"k";}`,
		`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:7:"missing";}`,
	} {
		in = append(in, frame(r)...)
	}
	// Split mid-frame, as TCP may deliver it.
	c.Write(in[:7])
	time.Sleep(5 * time.Millisecond)
	c.Write(in[7:])
	for _, want := range []string{"b:1;", `a:1:{s:1:"x";d:0.1;}`, "N;"} {
		if got := readFrame(t, c); got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}

	// A bad command closes the connection after its reply and counts as a
	// protocol error.
	c.Write(frame(`a:2:{s:3:"cmd";s:5:"flush";s:3:"key";s:1:"k";}`))
	if got := readFrame(t, c); got != `s:13:"bad cmd flush";` {
		t.Fatalf("reply to a bad cmd: %q", got)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after bad cmd: read %d, %v; want EOF", n, err)
	}
	c2 := workermantest.Dial(t, w)
	c2.Write(frame("not serialized"))
	if got := readFrame(t, c2); got != `s:11:"bad request";` {
		t.Fatalf("reply to a bad request: %q", got)
	}
	// The data outlives the connections.
	c3 := workermantest.Dial(t, w)
	c3.Write(frame(`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"k";}`))
	if got := readFrame(t, c3); got != `a:1:{s:1:"x";d:0.1;}` {
		t.Fatalf("get on a new connection: %q", got)
	}
	deadline := time.Now().Add(workermantest.Timeout)
	for {
		st := workermantest.OnLoopValue(t, p.Loop(), p.Loop().Stats)
		if st.ProtocolErrors == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ProtocolErrors = %d, want 2", st.ProtocolErrors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewServer(t *testing.T) {
	w := gdserver.NewServer("frame://127.0.0.1:0")
	if w.Name != "globalDataServer" || w.Count != 1 || w.Reloadable || w.Handler == nil {
		t.Fatalf("NewServer: name %q count %d reloadable %v handler %v", w.Name, w.Count, w.Reloadable, w.Handler)
	}
	workermantest.Start(t, w)
	c := workermantest.Dial(t, w)
	c.Write(frame(`a:3:{s:3:"cmd";s:3:"add";s:3:"key";s:1:"a";s:5:"value";i:1;}`))
	if got := readFrame(t, c); got != "b:1;" {
		t.Fatalf("add: %q", got)
	}

	sock := filepath.Join(t.TempDir(), "gd.sock")
	u := gdserver.NewServer("unix://" + sock)
	u.Name = "unix"
	workermantest.Start(t, u)
	uc := workermantest.Dial(t, u)
	uc.Write(frame(`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"a";}`))
	if got := readFrame(t, uc); got != "N;" {
		t.Fatalf("get over the Unix socket: %q", got)
	}
}

func TestAttachRefuses(t *testing.T) {
	for _, tc := range []struct {
		listen string
		count  int
		want   string
	}{
		{"text://127.0.0.1:0", 1, "frame"},
		{"frame://127.0.0.1:0", 2, "count = 2"},
	} {
		w := workerman.NewWorker(tc.listen)
		w.Count = tc.count
		w.Handler = &gdserver.Handler{}
		_, err := workerman.NewProcess(workerman.ProcessOptions{}, w)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s count %d: %v, want an error about %q", tc.listen, tc.count, err, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	h, err := workerman.NewHandler("globaldata", workermantest.DecodeTOML(
		"snapshot_file = "+quote(filepath.Join(dir, "gd.ser"))+"\nsnapshot_interval = \"90s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := h.(*gdserver.Handler); g.SnapshotInterval != 90*time.Second {
		t.Errorf("snapshot_interval = %s", g.SnapshotInterval)
	}
	if h, _ := workerman.NewHandler("globaldata", nil); h.(*gdserver.Handler).SnapshotInterval != gdserver.DefaultSnapshotInterval {
		t.Error("snapshot_interval's default is not DefaultSnapshotInterval")
	}
	for _, bad := range []string{
		`snapshot_interval = "-1s"`,
		`snapshot_interval = 60`,
		"snapshot_file = " + quote(filepath.Join(dir, "no", "such", "dir", "gd.ser")),
		`snapshot = "x"`,
	} {
		if _, err := workerman.NewHandler("globaldata", workermantest.DecodeTOML(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

func TestSnapshot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gd.ser")
	opts := "snapshot_file = " + quote(file) + "\nsnapshot_interval = \"50ms\"\n"
	w, p := serve(t, opts)
	c := workermantest.Dial(t, w)
	c.Write(frame(`a:3:{s:3:"cmd";s:3:"set";s:3:"key";s:1:"k";s:5:"value";s:5:"first";}`))
	readFrame(t, c)
	// The periodic snapshot.
	waitFile(t, file, `s:1:"k";s:5:"first";`)

	// The snapshot at stop has the last write, and a new process starts
	// from it.
	c.Write(frame(`a:3:{s:3:"cmd";s:3:"set";s:3:"key";i:7;s:5:"value";d:2.5;}`))
	readFrame(t, c)
	workermantest.Stop(t, p)
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := `a:2:{i:7;d:2.5;s:1:"k";s:5:"first";}`; string(doc) != want {
		t.Fatalf("snapshot at stop %q, want %q", doc, want)
	}
	v, err := phpserialize.Unmarshal(doc)
	if err != nil {
		t.Fatalf("the snapshot is no serialize() document: %v", err)
	}
	if a := v.(*phpserialize.Array); a.Len() != 2 {
		t.Fatalf("snapshot holds %d keys", a.Len())
	}
	w2, _ := serve(t, opts)
	c2 := workermantest.Dial(t, w2)
	c2.Write(frame(`a:2:{s:3:"cmd";s:3:"get";s:3:"key";s:1:"7";}`))
	if got := readFrame(t, c2); got != "d:2.5;" {
		t.Fatalf("get after restart: %q", got)
	}

	// A snapshot that does not read is moved aside, not overwritten.
	bad := filepath.Join(t.TempDir(), "bad.ser")
	os.WriteFile(bad, []byte("a:1:{garbage"), 0o600)
	serve(t, "snapshot_file = "+quote(bad))
	matches, _ := filepath.Glob(bad + ".bad-*")
	if len(matches) != 1 {
		t.Fatalf("the unreadable snapshot was not moved aside: %v", matches)
	}
	if b, _ := os.ReadFile(matches[0]); string(b) != "a:1:{garbage" {
		t.Fatalf("moved snapshot holds %q", b)
	}
}

func waitFile(t *testing.T, file, want string) {
	t.Helper()
	deadline := time.Now().Add(workermantest.Timeout)
	for {
		b, _ := os.ReadFile(file)
		if bytes.Contains(b, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want it to contain %q", file, b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadableWarning: a reloadable globaldata worker says at start that
// a reload loses its data; Workerman's settings (NewServer) say nothing.
func TestReloadableWarning(t *testing.T) {
	for _, reloadable := range []bool{true, false} {
		core, logs := observer.New(zap.WarnLevel)
		w := gdserver.NewServer("frame://127.0.0.1:0")
		w.Reloadable = reloadable
		workermantest.StartWith(t, workerman.ProcessOptions{Logger: zap.New(core)}, w)
		warned := logs.FilterMessageSnippet("reloadable = false").Len() > 0
		if warned != reloadable {
			t.Errorf("reloadable %v: warned %v (%v)", reloadable, warned, logs.All())
		}
	}
}
