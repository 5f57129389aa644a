package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TLS connections are not handed over on reload (their state is
// crypto/tls's): the old process keeps serving them while the new one
// takes new connections.

// dialWSS opens a wss:// connection trusting f's CA; it also returns the
// client's address, by which `connections` lists it.
func dialWSS(ctx context.Context, t *testing.T, f *tlsFiles, url string) (*websocket.Conn, string) {
	t.Helper()
	var mu sync.Mutex
	var local string
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				local = c.LocalAddr().String()
				mu.Unlock()
			}
			return c, err
		},
	}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	mu.Lock()
	defer mu.Unlock()
	return c, local
}

// servedBy is the pid of the process `connections` lists the client at
// remote under (0: none).
func servedBy(t *testing.T, d *daemon, remote string) int {
	t.Helper()
	r := d.mustRun(0, "connections", "--json")
	var rows []connRow
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("connections --json: %v in %q", err, r.out)
	}
	for _, row := range rows {
		if row.Remote == remote {
			return row.PID
		}
	}
	return 0
}

// reload -g with a wss:// connection open: it keeps being served by the
// old process, which status still shows (the same slot, an older
// generation, the one connection) next to its replacement, while a new
// connection goes to the new process; when the client closes, the old
// process exits, long before graceful_timeout.
func TestTLSReloadDrainsWSS(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin) // graceful_timeout = "30s"
	f := newTLSFiles(t, d.dir)
	d.writeConfig(worker("wss", "wss://127.0.0.1:0", "echo", 1, f.table()...))
	d.start()
	st := d.waitReady("wss", 1)
	old := st.procs("wss")[0]
	url := "wss://" + st.addr("wss") + "/"
	ctx, cancel := context.WithTimeout(context.Background(), slow(60*time.Second))
	defer cancel()

	a, aAddr := dialWSS(ctx, t, f, url)
	if err := wsEcho(ctx, a, websocket.MessageText, []byte("before the reload")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if r := d.mustRun(0, "reload", "-g"); !strings.Contains(r.out, "workermand reloaded") {
		t.Fatalf("reload -g: %s", r)
	}

	// Status during the drain: both processes of slot 0.
	var next procDoc
	waitFor(t, slow(10*time.Second), "the new process next to the draining one", func() (bool, string) {
		ps := d.mustStatus().procs("wss")
		if len(ps) != 2 || ps[0].PID != old.PID || ps[0].Connections != 1 || ps[0].Status != "draining" ||
			ps[1].Generation <= old.Generation || ps[1].ID != 0 || ps[1].Status != "idle" {
			return false, fmt.Sprintf("%+v", ps)
		}
		next = ps[1]
		return true, ""
	})
	if out := d.mustRun(0, "status").out; !strings.Contains(out, itoa(old.PID)) || !strings.Contains(out, itoa(next.PID)) || !strings.Contains(out, "[draining]") {
		t.Errorf("status does not list the draining process %d and its replacement %d:\n%s", old.PID, next.PID, out)
	}

	// The old connection still works, on the old process; a new one goes
	// to the new process.
	for i := range 5 {
		if err := wsEcho(ctx, a, websocket.MessageText, fmt.Appendf(nil, "during the drain %d", i)); err != nil {
			t.Fatalf("the open connection after reload -g: %v", err)
		}
	}
	b, bAddr := dialWSS(ctx, t, f, url)
	if err := wsEcho(ctx, b, websocket.MessageBinary, []byte("new connection")); err != nil {
		t.Fatal(err)
	}
	if pa, pb := servedBy(t, d, aAddr), servedBy(t, d, bAddr); pa != old.PID || pb != next.PID {
		t.Errorf("the old connection is served by %d (want the old process %d), the new one by %d (want %d)", pa, old.PID, pb, next.PID)
	}

	// The client closes: the old process has nothing left and exits.
	if err := a.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Errorf("closing handshake with the draining process: %v", err)
	}
	waitGone(t, slow(5*time.Second), "the old process after its last connection closed", old.PID)
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("the old process exited %s after the reload, as if at graceful_timeout", took)
	}
	if ps := d.mustStatus().procs("wss"); len(ps) != 1 || ps[0].PID != next.PID {
		t.Errorf("status after the drain: %+v, want the new process alone", ps)
	}
	if err := wsEcho(ctx, b, websocket.MessageText, []byte("after the drain")); err != nil {
		t.Fatal(err)
	}
}

// reload -g with an idle ssl:// connection that the client never closes:
// served until graceful_timeout, then closed.
func TestTLSReloadDrainUntilGracefulTimeout(t *testing.T) {
	t.Parallel()
	const graceful = 3 * time.Second
	d := newDaemon(t, stockBin)
	d.globals["graceful_timeout"] = `"3s"`
	f := newTLSFiles(t, d.dir)
	d.writeConfig(worker("raw", "ssl://127.0.0.1:0", "echo", 1, f.table()...))
	d.start()
	st := d.waitReady("raw", 1)
	oldPID := st.pids()[0]
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", st.addr("raw"), &tls.Config{RootCAs: f.ca.Pool, ServerName: "site.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(slow(20 * time.Second)))
	r := bufio.NewReader(c)
	echo := func(msg string) error {
		if _, err := c.Write([]byte(msg + "\n")); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err == nil && line != msg+"\n" {
			err = fmt.Errorf("echo of %q: %q", msg, line)
		}
		return err
	}
	if err := echo("before"); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	d.mustRun(0, "reload", "-g")
	if err := echo("during the drain"); err != nil {
		t.Fatalf("the open connection after reload -g: %v", err)
	}
	if pid := servedBy(t, d, c.LocalAddr().String()); pid != oldPID {
		t.Errorf("served by %d, want the old process %d", pid, oldPID)
	}
	// Idle from now on: the old process closes it at graceful_timeout
	// (a TLS close_notify, then EOF).
	n, err := r.ReadByte()
	closedAt := time.Since(begin)
	if err == nil {
		t.Fatalf("read %q from the draining connection, want EOF", n)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection is still open %s after reload -g (graceful_timeout %s)", closedAt, graceful)
	}
	if closedAt < graceful-200*time.Millisecond {
		t.Errorf("closed %s after reload -g, before graceful_timeout (%s): %v", closedAt, graceful, err)
	}
	t.Logf("the idle TLS connection was closed %s after reload -g (%v)", closedAt.Round(time.Millisecond), err)
	waitGone(t, slow(5*time.Second), "the old process after graceful_timeout", oldPID)
}

// A plain reload answers what the old process has read and then closes
// its TLS connections once they are quiet: the client sees its connection
// end within stop_timeout and reconnects to the new process.
func TestTLSReloadClosesQuietConnections(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin) // stop_timeout = "2s"
	f := newTLSFiles(t, d.dir)
	d.writeConfig(worker("wss", "wss://127.0.0.1:0", "echo", 1, f.table()...))
	d.start()
	st := d.waitReady("wss", 1)
	url := "wss://" + st.addr("wss") + "/"
	ctx, cancel := context.WithTimeout(context.Background(), slow(30*time.Second))
	defer cancel()
	a, _ := dialWSS(ctx, t, f, url)
	if err := wsEcho(ctx, a, websocket.MessageText, []byte("before")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	d.mustRun(0, "reload")
	_, _, err := a.Read(ctx)
	closedAt := time.Since(begin)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the quiet connection after reload: %v after %s, want it closed", err, closedAt)
	}
	if closedAt > slow(4*time.Second) {
		t.Errorf("closed %s after reload, later than stop_timeout (2s)", closedAt)
	}
	t.Logf("closed %s after reload: %v", closedAt.Round(time.Millisecond), err)
	next := d.waitReplaced("wss", 1, st.pids(), st.Master.PID)
	b, bAddr := dialWSS(ctx, t, f, url)
	if err := wsEcho(ctx, b, websocket.MessageText, []byte("reconnected")); err != nil {
		t.Fatal(err)
	}
	if pid := servedBy(t, d, bAddr); pid != next.pids()[0] {
		t.Errorf("the new connection is served by %d, want the new process %d", pid, next.pids()[0])
	}
}
