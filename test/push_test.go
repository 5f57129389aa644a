package test

import (
	"fmt"
	"io"
	nethttp "net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/testserver"
)

// The stock push handler against real clients: two daemons run the PHP
// chat (examples/exec/chat.php, the exec handler) on websocket workers
// sharing a redis-server; the first daemon also runs the push API, in a
// process of its own. What curl, Go's HTTP client and PHP's
// file_get_contents (what PHP-FPM code has) post reaches the uids and
// groups of both daemons.
func TestPushAcrossDaemons(t *testing.T) {
	t.Parallel()
	php := needTool(t, "php")
	script, err := filepath.Abs("../examples/exec/chat.php")
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://" + testserver.Redis(t).Addr()
	chat := func() string {
		return worker("chat", "websocket://"+loopback(t), "exec", 1, "[worker.options]",
			fmt.Sprintf("command = [%q, %q]", php, script), fmt.Sprintf("channel = %q", url))
	}
	pushAddr := loopback(t)
	dA := newDaemon(t, stockBin)
	dA.writeConfig(chat(), worker("push", "http://"+pushAddr, "push", 1, "[worker.options]",
		fmt.Sprintf("channel = %q", url), `token = "s3cret"`, `workers = ["chat"]`))
	dA.start()
	stA := dA.waitReady("chat", 1)
	dA.waitReady("push", 1)
	dB := newDaemon(t, stockBin)
	dB.writeConfig(chat())
	dB.start()
	stB := dB.waitReady("chat", 1)

	join := func(addr, name string, lines ...string) *broadcastClient {
		c := dialBroadcastWS(t, addr, name)
		if got := c.take(t, 1)[0]; !strings.HasPrefix(got, "hello ") {
			t.Fatalf("%s: greeting %q", name, got)
		}
		for _, l := range lines {
			c.send(t, l)
			c.take(t, 1) // "joined room", "you are alice"
		}
		return c
	}
	// Each joins first, so that once its uid is online (its process has
	// subscribed to it) the group's subscription is in too.
	alice := join(stA.addr("chat"), "alice", "join room", "login alice")
	bob := join(stB.addr("chat"), "bob", "join room", "login bob")
	carol := join(stB.addr("chat"), "carol")

	api := "http://" + pushAddr
	call := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, err := nethttp.NewRequest(method, api+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&nethttp.Client{Timeout: slow(10 * time.Second)}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, uid := range []string{"alice", "bob"} {
		waitFor(t, slow(15*time.Second), uid+" online through the push API", func() (bool, string) {
			code, body := call("GET", "/online?uid="+uid, "s3cret", "")
			return code == 200 && body == `{"online":true}`, fmt.Sprintf("%d %s", code, body)
		})
	}

	// curl, as a shell script would.
	r := curl(t, "-H", "Authorization: Bearer s3cret", "-H", "Content-Type: application/json",
		"--data", `{"uid":"alice","data":"to alice from curl"}`, api+"/send_to_uid")
	if r.out != `{"ok":true}` {
		t.Errorf("curl send_to_uid: %s", r)
	}
	if got := alice.take(t, 1)[0]; got != "to alice from curl" {
		t.Errorf("alice: %q", got)
	}

	// A group spanning the two daemons, then everyone.
	if code, got := call("POST", "/send_to_group", "s3cret", `{"group":"room","data":"to the room"}`); code != 200 || got != `{"ok":true}` {
		t.Fatalf("send_to_group: %d %s", code, got)
	}
	for _, c := range []*broadcastClient{alice, bob} {
		if got := c.take(t, 1)[0]; got != "to the room" {
			t.Errorf("%s: %q, want the group's message", c.name, got)
		}
	}
	if code, got := call("POST", "/broadcast", "s3cret", `{"data":"to everyone"}`); code != 200 {
		t.Fatalf("broadcast: %d %s", code, got)
	}
	for _, c := range []*broadcastClient{alice, bob, carol} {
		if got := c.take(t, 1)[0]; got != "to everyone" {
			t.Errorf("%s: %q, want the broadcast", c.name, got)
		}
	}

	// PHP-FPM code pushing from another project (manual FAQ 1.16.17):
	// one HTTP POST with a stream context, no library.
	phpCall := `$ctx = stream_context_create(["http" => [
    "method" => "POST",
    "header" => "Content-Type: application/json\r\nAuthorization: Bearer s3cret\r\n",
    "content" => json_encode(["uid" => "bob", "data" => "to bob from php"]),
    "timeout" => 5,
    "ignore_errors" => true,
]]);
echo file_get_contents("` + api + `/send_to_uid", false, $ctx);`
	if r := runTool(t, slow(20*time.Second), php, "-r", phpCall); r.code != 0 || r.out != `{"ok":true}` {
		t.Errorf("php: %s", r)
	}
	if got := bob.take(t, 1)[0]; got != "to bob from php" {
		t.Errorf("bob: %q", got)
	}

	if code, got := call("GET", "/online?uid=nobody", "s3cret", ""); code != 200 || got != `{"online":false}` {
		t.Errorf("online nobody: %d %s", code, got)
	}
	if code, got := call("POST", "/send_to_uid", "", `{"uid":"alice","data":"x"}`); code != 401 || !strings.Contains(got, `"error"`) {
		t.Errorf("no token: %d %s, want 401", code, got)
	}
	if code, got := call("POST", "/send_to_uid", "wrong", `{"uid":"alice","data":"x"}`); code != 401 {
		t.Errorf("wrong token: %d %s, want 401", code, got)
	}
	if code, got := call("POST", "/send_to_uid", "s3cret", `{"uid":"alice"`); code != 400 || !strings.Contains(got, `"error"`) {
		t.Errorf("a broken body: %d %s, want 400", code, got)
	}

	// close_uid closes alice's websocket, in the other process.
	if code, got := call("POST", "/close_uid", "s3cret", `{"uid":"alice"}`); code != 200 {
		t.Fatalf("close_uid: %d %s", code, got)
	}
	select {
	case m, ok := <-alice.in:
		if ok {
			t.Errorf("alice got %q instead of a close", m)
		}
	case <-time.After(slow(10 * time.Second)):
		t.Error("close_uid: alice's connection stays open")
	}
	// Nobody got what was refused, nor anything twice.
	for _, c := range []*broadcastClient{bob, carol} {
		if extra := c.drain(300 * time.Millisecond); len(extra) > 0 {
			t.Errorf("%s got more: %q", c.name, extra)
		}
	}
}
