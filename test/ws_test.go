package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The websocket tests run real clients against the stock binary's echo
// handler on websocket:// workers: Go's coder/websocket, the Node.js ws
// package and headless Chromium. Node and Chromium are external tools: in
// CI (WORKERMAND_REQUIRE_TOOLS=1) a missing one fails the test; elsewhere
// it skips it.

// startWS starts a daemon with one echo worker on websocket://127.0.0.1:0
// (extra lines added to its table) and returns its ws:// URL.
func startWS(t *testing.T, count int, extra ...string) string {
	t.Helper()
	_, addr := startHTTP(t, stockBin, "ws", count, worker("ws", "websocket://127.0.0.1:0", "echo", count, extra...))
	return "ws://" + addr + "/"
}

// dialWS opens a client connection without compression (the server does
// not implement permessage-deflate yet) and with no read limit below the
// server's.
func dialWS(ctx context.Context, t testing.TB, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("dial %s: status %d", url, resp.StatusCode)
	}
	c.SetReadLimit(16 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// wsEcho writes one message and checks that the same kind and bytes come
// back.
func wsEcho(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, msg []byte) error {
	if err := c.Write(ctx, typ, msg); err != nil {
		return fmt.Errorf("write %d bytes: %w", len(msg), err)
	}
	gt, got, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("read the echo of %d bytes: %w", len(msg), err)
	}
	if gt != typ {
		return fmt.Errorf("echo of a %v message came back as %v", typ, gt)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo differs: sent %d bytes, got %d (first bytes %q)", len(msg), len(got), got[:min(len(got), 32)])
	}
	return nil
}

// Go's coder/websocket against the echo worker: both kinds, a 1 MiB
// message, a fragmented one, ping/pong and the closing handshake.
func TestWSGoClient(t *testing.T) {
	t.Parallel()
	url := startWS(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()

	t.Run("text and binary", func(t *testing.T) {
		c := dialWS(ctx, t, url)
		if err := wsEcho(ctx, c, websocket.MessageText, []byte("héllo, wörld ✓")); err != nil {
			t.Fatal(err)
		}
		bin := []byte{0, 1, 2, 0xff, 0xfe, 0x80, 0xc0} // not UTF-8: must stay binary
		if err := wsEcho(ctx, c, websocket.MessageBinary, bin); err != nil {
			t.Fatal(err)
		}
		if err := wsEcho(ctx, c, websocket.MessageText, nil); err != nil {
			t.Fatalf("empty text message: %v", err)
		}
	})

	t.Run("1 MiB", func(t *testing.T) {
		c := dialWS(ctx, t, url)
		big := make([]byte, 1<<20)
		_, _ = rand.Read(big)
		if err := wsEcho(ctx, c, websocket.MessageBinary, big); err != nil {
			t.Fatal(err)
		}
		text := bytes.Repeat([]byte("0123456789abcdé"), (1<<20)/16)
		if err := wsEcho(ctx, c, websocket.MessageText, text); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("fragmented", func(t *testing.T) {
		c := dialWS(ctx, t, url)
		// Every Write of coder/websocket's Writer is one frame with FIN
		// clear; Close sends the final empty continuation. The split
		// inside "é" checks that UTF-8 is validated across fragments.
		parts := [][]byte{[]byte("frag-one "), []byte("two \xc3"), []byte("\xa9 three"), bytes.Repeat([]byte("x"), 70000)}
		w, err := c.Writer(ctx, websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Join(parts, nil); typ != websocket.MessageText || !bytes.Equal(got, want) {
			t.Fatalf("fragmented message echoed as %v, %d bytes; want text, %d bytes", typ, len(got), len(want))
		}
		// The connection still works for a plain message afterwards.
		if err := wsEcho(ctx, c, websocket.MessageBinary, []byte("after")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ping", func(t *testing.T) {
		c := dialWS(ctx, t, url)
		// Ping needs a reader to see the pong; the echo of a message
		// sent after the pings is what that reader waits for.
		read := make(chan error, 1)
		go func() {
			_, got, err := c.Read(ctx)
			if err == nil && string(got) != "after pings" {
				err = fmt.Errorf("got %q", got)
			}
			read <- err
		}()
		for i := range 3 {
			pctx, pcancel := context.WithTimeout(ctx, slow(3*time.Second))
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("after pings")); err != nil {
			t.Fatal(err)
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("close", func(t *testing.T) {
		for _, code := range []websocket.StatusCode{websocket.StatusNormalClosure, 4000} {
			c := dialWS(ctx, t, url)
			if err := wsEcho(ctx, c, websocket.MessageText, []byte("bye")); err != nil {
				t.Fatal(err)
			}
			// Close returns nil only when the peer's close frame carries
			// the same status (coder/websocket's closeHandshake).
			start := time.Now()
			if err := c.Close(code, "done"); err != nil {
				t.Fatalf("close %d: %v", code, err)
			}
			if d := time.Since(start); d > slow(time.Second) {
				t.Errorf("closing handshake with %d took %s", code, d)
			}
		}
	})
}

// 100 concurrent connections, 100 messages each, every echo checked.
func TestWSGoConcurrent(t *testing.T) {
	t.Parallel()
	url := startWS(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()
	const conns, msgs = 100, 100
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
			if err != nil {
				errs <- fmt.Errorf("conn %d: dial: %w", i, err)
				return
			}
			defer c.CloseNow()
			for j := range msgs {
				typ := websocket.MessageText
				if j%2 == 1 {
					typ = websocket.MessageBinary
				}
				msg := fmt.Appendf(nil, "conn %d message %d %s", i, j, strings.Repeat("z", j))
				if err := wsEcho(ctx, c, typ, msg); err != nil {
					errs <- fmt.Errorf("conn %d message %d: %w", i, j, err)
					return
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				errs <- fmt.Errorf("conn %d: close: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 5 {
		t.Errorf("... and %d more failed connections", n-5)
	}
	t.Logf("%d connections × %d messages in %s", conns, msgs, time.Since(start).Round(time.Millisecond))
}

// needNodeWS returns the node binary and the directory holding the ws
// package (for NODE_PATH), or skips the test (fails it when
// WORKERMAND_REQUIRE_TOOLS=1). WORKERMAND_NODE_WS names a directory holding
// ws/ (e.g. an npm prefix's node_modules); else Debian's node-ws is used.
func needNodeWS(t *testing.T) (node, nodePath string) {
	t.Helper()
	node = needTool(t, "node")
	var dirs []string
	if d := os.Getenv("WORKERMAND_NODE_WS"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "/usr/share/nodejs", "/usr/lib/nodejs", "/usr/local/lib/node_modules")
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "ws", "package.json")) {
			return node, d
		}
	}
	if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" {
		t.Fatalf("the Node.js ws package is required (WORKERMAND_REQUIRE_TOOLS=1) but not found in %v", dirs)
	}
	t.Skipf("the Node.js ws package is not installed (looked in %v)", dirs)
	return "", ""
}

// nodeResult is what testdata/ws/echo.js prints.
type nodeResult struct {
	OK        bool     `json:"ok"`
	Errors    []string `json:"errors"`
	Echoes    []string `json:"echoes"`
	CloseCode int      `json:"closeCode"`
	Protocol  string   `json:"protocol"`
}

// The Node.js ws package against the echo worker: text, a Buffer, a
// 200 KB message, a fragmented one, and close code 4000 echoed.
func TestWSNodeClient(t *testing.T) {
	t.Parallel()
	node, nodePath := needNodeWS(t)
	url := startWS(t, 1, "[worker.websocket]", `subprotocols = ["chat.v2", "chat.v1"]`)
	r, err := runNodeEcho(t, node, nodePath, url)
	for _, e := range r.Errors {
		t.Error("echo.js: " + e)
	}
	want := []string{"text", "binary", "large", "fragmented"}
	if strings.Join(r.Echoes, ",") != strings.Join(want, ",") {
		t.Errorf("echoes checked: %q, want %q", r.Echoes, want)
	}
	if r.CloseCode != 4000 {
		t.Errorf("close code seen by the client: %d, want 4000 echoed", r.CloseCode)
	}
	if r.Protocol != "chat.v2" {
		t.Errorf("subprotocol: %q, want the server's preferred chat.v2", r.Protocol)
	}
	if err != nil || !r.OK {
		t.Errorf("node exited with %v, ok=%v", err, r.OK)
	}
}

// runNodeEcho runs testdata/ws/echo.js against url with the ws package
// from nodePath (env is added to the environment) and returns what it
// printed, and how it exited.
func runNodeEcho(t *testing.T, node, nodePath, url string, env ...string) (nodeResult, error) {
	t.Helper()
	script, err := filepath.Abs("testdata/ws/echo.js")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, url)
	cmd.Env = append(append(os.Environ(), "NODE_PATH="+nodePath), env...)
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("node %s: still running after the deadline\nstdout: %s\nstderr: %s", script, out, stderr.Bytes())
	}
	var r nodeResult
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		t.Fatalf("node %s: %v, output not JSON (%v)\nstdout: %s\nstderr: %s", script, err, jerr, out, stderr.Bytes())
	}
	if err != nil {
		err = fmt.Errorf("%w (stderr: %s)", err, stderr.Bytes())
	}
	return r, err
}

// pageResult is what testdata/ws/page.html writes into its #result.
type pageResult struct {
	OK        bool     `json:"ok"`
	Errors    []string `json:"errors"`
	Echoes    []string `json:"echoes"`
	CloseCode int      `json:"closeCode"`
	Protocol  string   `json:"protocol"`
	Origin    string   `json:"origin"`
}

// chromiumPage loads url in headless Chromium (with extra flags) and
// returns what the page wrote into #result once its script finished.
func chromiumPage(t *testing.T, bin, url string, flags ...string) pageResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow(30*time.Second))
	defer cancel()
	page := startChromium(t, bin, url, flags...).page(ctx, url)
	text := page.waitEval(slow(15*time.Second), "the page's #result",
		"document.getElementById('result') ? document.getElementById('result').textContent : 'pending'",
		func(v string) bool { return v != "pending" })
	var pr pageResult
	if err := json.Unmarshal([]byte(text), &pr); err != nil {
		t.Fatalf("#result is %q: %v", text, err)
	}
	return pr
}

// Headless Chromium opens a page served over http:// by a static worker;
// the page's script talks to a websocket worker that only allows that
// page's origin, and to one that allows another origin only.
func TestWSChromium(t *testing.T) {
	t.Parallel()
	bin := needTool(t, "chromium")
	root := tempDir(t)
	page, err := os.ReadFile("testdata/ws/page.html")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "page.html"), string(page))
	// The static worker's port must be known before the config is
	// written: it is the origin the websocket worker allows.
	webPort := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	d := newDaemon(t, stockBin)
	d.writeConfig(
		worker("web", origin, "static", 1, "[worker.options]", "root = "+strconv.Quote(root)),
		worker("ws", "websocket://127.0.0.1:0", "echo", 1, "[worker.websocket]",
			"allowed_origins = ["+strconv.Quote(origin)+"]", `subprotocols = ["chat.v1"]`),
		worker("wsother", "websocket://127.0.0.1:0", "echo", 1, "[worker.websocket]",
			`allowed_origins = ["http://elsewhere.example"]`),
	)
	d.start()
	d.waitReady("web", 1)
	d.waitReady("wsother", 1)
	st := d.waitReady("ws", 1)

	t.Run("allowed origin", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		r := chromiumPage(t, bin, origin+"/page.html?ws="+neturl.QueryEscape("ws://"+st.addr("ws")+"/echo"))
		t.Logf("chromium page finished in %s", time.Since(start).Round(time.Millisecond))
		for _, e := range r.Errors {
			t.Error("page: " + e)
		}
		if want := "text,binary,large"; strings.Join(r.Echoes, ",") != want {
			t.Errorf("echoes checked: %q, want %s", r.Echoes, want)
		}
		if r.CloseCode != 4000 || r.Protocol != "chat.v1" || r.Origin != origin || !r.OK {
			t.Errorf("page result %+v; want close code 4000 echoed, protocol chat.v1, origin %s", r, origin)
		}
	})
	t.Run("refused origin", func(t *testing.T) {
		t.Parallel()
		r := chromiumPage(t, bin, origin+"/page.html?ws="+neturl.QueryEscape("ws://"+st.addr("wsother")+"/echo"))
		// A refused handshake (403) is an error event and close code
		// 1006 in the browser; no message may have been echoed.
		if len(r.Echoes) != 0 || r.CloseCode != 1006 || r.OK {
			t.Errorf("page result %+v; want no echoes and close code 1006 (handshake refused)", r)
		}
	})
}
