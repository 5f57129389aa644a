package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The exec handler's chat example in each language (PHP, Python, Node.js,
// Go), run by the real binary on a websocket worker and driven by real
// websocket clients through one table: the connect event's path, query and
// headers reach the program; messages are echoed; bind_uid + send_to_uid;
// join_group + send_to_group; and the program killed by the pid it reports,
// the clients keep their connections and are answered again within 2 s.
// (TestExecUIDAcrossProcesses covers the channel across processes,
// TestExecPHP the text worker, handlers/exec the back-pressure.)
func TestExecChatLanguages(t *testing.T) {
	examples, err := filepath.Abs("../examples/exec")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		command func(t *testing.T) []string
	}{
		{"php", func(t *testing.T) []string { return []string{debianTool(t, "php"), examples + "/chat.php"} }},
		{"python", func(t *testing.T) []string { return []string{debianTool(t, "python3"), examples + "/chat.py"} }},
		{"node", func(t *testing.T) []string { return []string{debianTool(t, "node"), examples + "/chat.js"} }},
		{"go", func(t *testing.T) []string {
			dir, err := exampleBins()
			if err != nil {
				t.Fatal(err)
			}
			return []string{filepath.Join(dir, "gochat")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, _ := json.Marshal(tc.command(t))
			d := newDaemon(t, stockBin)
			d.writeConfig(worker("chat", "websocket://"+loopback(t), "exec", 1,
				"[worker.options]", "command = "+string(cmd)))
			d.start()
			url := "ws://" + d.waitReady("chat", 1).addr("chat")

			alice := dialChat(t, url+"/room?x=1&y=%C3%A9", http.Header{"X-Test": {"v1"}, "Cookie": {"a=1"}})
			bob := dialChat(t, url+"/", nil)
			var info struct {
				Pid     int               `json:"pid"`
				Path    string            `json:"path"`
				Query   string            `json:"query"`
				Headers map[string]string `json:"headers"`
			}
			alice.send(t, "info")
			if err := json.Unmarshal([]byte(alice.next(t)), &info); err != nil {
				t.Fatalf("info: %v", err)
			}
			if info.Path != "/room" || info.Query != "x=1&y=%C3%A9" || info.Headers["x-test"] != "v1" ||
				info.Headers["cookie"] != "a=1" || info.Headers["upgrade"] != "websocket" || info.Pid <= 0 {
				t.Errorf("info %+v: want path /room, query x=1&y=%%C3%%A9, x-test v1, cookie a=1, a pid", info)
			}
			alice.send(t, "héllo, echo")
			alice.expect(t, "héllo, echo")

			alice.send(t, "login alice")
			alice.expect(t, "you are alice")
			bob.send(t, "to alice hi from bob")
			alice.expect(t, "hi from bob")

			alice.send(t, "join g")
			alice.expect(t, "joined g")
			bob.send(t, "join g")
			bob.expect(t, "joined g")
			bob.send(t, "say g to the group")
			alice.expect(t, "to the group")
			bob.expect(t, "to the group")

			if err := syscall.Kill(info.Pid, syscall.SIGKILL); err != nil {
				t.Fatalf("killing the program (pid %d): %v", info.Pid, err)
			}
			killed := time.Now()
			for _, c := range []*chatClient{alice, bob} {
				c.answeredAgain(t, killed, slow(2*time.Second))
			}
			t.Logf("%s answered again %s after the kill", tc.name, time.Since(killed).Round(time.Millisecond))
		})
	}
}

// debianTool is Debian's interpreter name (/usr/bin/name), the one the
// examples are meant for, else name on the PATH: a version manager's shim
// there (pyenv's takes ~2 s to start a program) would be timed instead of
// the restart.
func debianTool(t *testing.T, name string) string {
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	return needTool(t, name)
}

// chatClient is a websocket client whose messages a goroutine reads.
type chatClient struct {
	c   *websocket.Conn
	got chan string
}

func dialChat(t *testing.T, url string, h http.Header) *chatClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow(10*time.Second))
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	cc := &chatClient{c: c, got: make(chan string, 64)}
	go func() {
		defer close(cc.got)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			cc.got <- string(b)
		}
	}()
	if g := cc.next(t); !strings.HasPrefix(g, "hello ") {
		t.Fatalf("greeting %q", g)
	}
	return cc
}

func (c *chatClient) send(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow(5*time.Second))
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("send %q: %v", s, err)
	}
}

func (c *chatClient) next(t *testing.T) string {
	t.Helper()
	select {
	case s, ok := <-c.got:
		if !ok {
			t.Fatal("the connection closed")
		}
		return s
	case <-time.After(slow(5 * time.Second)):
		t.Fatal("no message within 5 s")
	}
	return ""
}

func (c *chatClient) expect(t *testing.T, want string) {
	t.Helper()
	if got := c.next(t); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// answeredAgain asks until the restarted program echoes, which must be
// within limit of killed: what is sent while no program runs is dropped,
// and the new program greets the connection first.
func (c *chatClient) answeredAgain(t *testing.T, killed time.Time, limit time.Duration) {
	t.Helper()
	for i := 0; ; i++ {
		if time.Since(killed) > limit {
			t.Fatalf("no answer within %s of the kill", limit)
		}
		msg := "again " + strconv.Itoa(i)
		c.send(t, msg)
		timeout := time.After(100 * time.Millisecond)
	wait:
		for {
			select {
			case s, ok := <-c.got:
				if !ok {
					t.Fatal("the connection closed")
				}
				if s == msg {
					return
				}
			case <-timeout:
				break wait
			}
		}
	}
}

// examples/exec/http.php on an http:// worker under php-cli: curl's
// keep-alive requests answered on one connection; pipelined requests
// answered in order; a request the program takes too long on gets 504
// after request_timeout; the program killed, requests get 503 until it is
// back, within 2 s.
func TestExecHTTPPHP(t *testing.T) {
	t.Parallel()
	php := debianTool(t, "php")
	script, err := filepath.Abs("../examples/exec/http.php")
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("api", "http://"+loopback(t), "exec", 1,
		"[worker.options]", fmt.Sprintf("command = [%q, %q]", php, script), `request_timeout = "1s"`))
	d.start()
	base := "http://" + d.waitReady("api", 1).addr("api")

	// Keep-alive: three requests, one connection (num_connects 1, 0, 0).
	r := curl(t, "-w", " %{http_code} %{num_connects}\n",
		"-H", "Content-Type: application/json", "-d", `{"name":"tea"}`, base+"/items",
		"--next", "-w", " %{http_code} %{num_connects}\n", base+"/items",
		"--next", "-w", " %{http_code} %{num_connects}\n", base+"/items/1")
	want := `{"id":1,"name":"tea"} 201 1
[{"id":1,"name":"tea"}] 200 0
{"id":1,"name":"tea"} 200 0
`
	if r.out != want {
		t.Fatalf("curl:\n%s\nwant:\n%s", r.out, want)
	}

	// Pipelined: all written at once, answered in order.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	paths := []string{"/items/1", "/nope", "/items", "/pid", "/items/2"}
	var pipe strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&pipe, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
	}
	if _, err := io.WriteString(c, pipe.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(slow(10 * time.Second)))
	var pid int
	for i, wantStatus := range []int{200, 404, 200, 200, 404} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("pipelined %s: %d %s, want %d", paths[i], resp.StatusCode, b, wantStatus)
		}
		if paths[i] == "/pid" {
			var v struct{ Pid int }
			if err := json.Unmarshal(b, &v); err != nil || v.Pid <= 0 {
				t.Fatalf("/pid: %s", b)
			}
			pid = v.Pid
		}
	}

	// Longer than request_timeout: 504 after about 1 s.
	start := time.Now()
	r = curl(t, "-o", "/dev/null", "-w", "%{http_code}", base+"/sleep?s=2")
	if r.out != "504" {
		t.Fatalf("/sleep?s=2: %s, want 504", r.out)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("504 after %s, before request_timeout", took)
	}

	// Killed: 503 while it is down, answers again within 2 s.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the program (pid %d): %v", pid, err)
	}
	killed := time.Now()
	client := &http.Client{Timeout: slow(5 * time.Second)}
	saw503 := false
	for {
		if time.Since(killed) > slow(2*time.Second) {
			t.Fatalf("not answered 200 again within 2 s of the kill (503 seen: %v)", saw503)
		}
		resp, err := client.Get(base + "/pid")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			saw503 = true
			continue
		}
		if resp.StatusCode != 200 {
			t.Fatalf("after the kill: %d %s", resp.StatusCode, b)
		}
		if strings.Contains(string(b), strconv.Itoa(pid)) {
			continue // still the old program: the kill is not seen yet
		}
		break
	}
	if !saw503 {
		t.Errorf("no 503 while the program was down")
	}
	t.Logf("answered again %s after the kill", time.Since(killed).Round(time.Millisecond))
}
