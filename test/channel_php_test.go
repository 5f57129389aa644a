package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// goChannel is a Go channel client in the test process, with what its
// callbacks receive.
type goChannel struct {
	t   *testing.T
	c   channel.Client
	got chan [2]any // name, data
	up  chan struct{}
}

func newGoChannel(t *testing.T, addr, token string) *goChannel {
	t.Helper()
	loop := workermantest.Start(t, workerman.NewWorker("tcp://127.0.0.1:0")).Loop()
	g := &goChannel{t: t, got: make(chan [2]any, 100), up: make(chan struct{}, 10)}
	c, err := channel.Connect(loop, "frame://"+addr, channel.Options{
		Token:     token,
		OnConnect: func() { g.up <- struct{}{} },
		OnError:   func(err error) { t.Logf("go client %s: %v", addr, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	g.c = c
	select {
	case <-g.up:
	case <-time.After(slow(10 * time.Second)):
		t.Fatalf("the Go client did not connect to %s", addr)
	}
	return g
}

func (g *goChannel) record(name string) func(any) {
	return func(data any) { g.got <- [2]any{name, data} }
}

// sync returns once the server has served every operation g sent before.
func (g *goChannel) sync() {
	g.t.Helper()
	g.c.On("go_sync", g.record("go_sync"))
	if err := g.c.Publish("sync", "go_sync"); err != nil {
		g.t.Fatal(err)
	}
	g.expect("go_sync", []byte(`s:4:"sync";`))
}

// expect waits for the next delivery, which must be name with data whose
// serialize() is want.
func (g *goChannel) expect(name string, want []byte) {
	g.t.Helper()
	select {
	case d := <-g.got:
		b, err := phpserialize.Marshal(d[1])
		if d[0] != name || err != nil || string(b) != string(want) {
			g.t.Fatalf("Go client got %v %s (%v), want %s %s", d[0], b, err, name, want)
		}
	case <-time.After(slow(10 * time.Second)):
		g.t.Fatalf("Go client: nothing received, want %s %s", name, want)
	}
}

func (g *goChannel) quiet(d time.Duration) {
	g.t.Helper()
	select {
	case x := <-g.got:
		g.t.Fatalf("Go client: unexpected %v", x)
	case <-time.After(d):
	}
}

// TestChannelPHP runs the stock daemon's channel handler with PHP programs
// speaking Workerman's Channel protocol (test/testdata/channel, written
// from the protocol: a php-fpm style publisher with a blocking socket, and
// a subscriber and queue watcher) and a Go client in the same test: each
// side receives what the other publishes and enqueues. A second worker
// requires a token, which the PHP publisher sends as its first frame.
func TestChannelPHP(t *testing.T) {
	php := needTool(t, "php")
	open, locked := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := newDaemon(t, stockBin)
	d.writeConfig(
		worker("ChannelServer", "frame://"+open, "channel", 1),
		worker("ChannelLocked", "frame://"+locked, "channel", 1, "[worker.options]", `token = "s3cret"`),
	)
	d.start()
	d.waitReady("ChannelServer", 1)
	d.waitReady("ChannelLocked", 1)

	scripts, err := filepath.Abs("testdata/channel")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), slow(30*time.Second))
	defer cancel()

	g := newGoChannel(t, open, "")
	g.c.On("from_php", g.record("from_php"))
	g.c.Watch("go_jobs", g.record("go_jobs"), true)
	g.sync()

	// PHP subscribes; Go publishes and enqueues.
	sub := exec.CommandContext(ctx, php, filepath.Join(scripts, "subscriber.php"), open, "3")
	var subErr strings.Builder
	sub.Stderr = &subErr
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill(); _ = sub.Wait() })
	lines := bufio.NewScanner(out)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			_ = sub.Wait()
			t.Fatalf("the PHP subscriber ended: %v\nstderr: %s", lines.Err(), subErr.String())
		}
		return lines.Text()
	}
	if l := next(); l != "ready" {
		t.Fatalf("PHP subscriber said %q, want ready", l)
	}
	goData := map[string]any{"n": 42, "f": 1.5, "s": "héllo", "list": []any{1, 2, 3}, "t": true, "nil": nil}
	if err := g.c.Publish(goData, "to_php"); err != nil {
		t.Fatal(err)
	}
	if err := g.c.Publish("to three", "3"); err != nil {
		t.Fatal(err)
	}
	if err := g.c.Enqueue("job for php", "php_jobs"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"type":"event","channel":"to_php","data":{"f":1.5,"list":[1,2,3],"n":42,"nil":null,"s":"héllo","t":true}}`,
		`{"type":"event","channel":"3","data":"to three"}`,
		`{"type":"queue","channel":"php_jobs","data":"job for php"}`,
	} {
		if got := next(); !sameJSON(t, got, want) {
			t.Errorf("PHP received\n%s\nwant\n%s", got, want)
		}
	}
	if err := sub.Wait(); err != nil {
		t.Errorf("PHP subscriber: %v\n%s", err, subErr.String())
	}

	// PHP publishes as php-fpm would; Go receives.
	runPHP(t, ctx, php, filepath.Join(scripts, "publisher.php"), open)
	want := `a:7:{s:4:"user";s:3:"ana";s:1:"n";i:7;s:1:"f";d:0.1;s:4:"tags";a:2:{i:0;s:1:"a";i:1;s:1:"b";}s:2:"ok";b:0;s:4:"none";N;s:4:"utf8";s:6:"ação";}`
	g.expect("from_php", []byte(want))
	g.expect("go_jobs", []byte(`s:12:"job from php";`))

	// The worker with a token: the PHP publisher's auth frame lets it in;
	// without it the connection is closed before anything is served.
	gl := newGoChannel(t, locked, "s3cret")
	gl.c.On("from_php", gl.record("from_php"))
	gl.sync()
	runPHP(t, ctx, php, filepath.Join(scripts, "publisher.php"), locked, "s3cret")
	gl.expect("from_php", []byte(want))
	// Refused: its later writes may fail, as the server closed.
	_ = exec.CommandContext(ctx, php, filepath.Join(scripts, "publisher.php"), locked, "wrong").Run()
	runPHP(t, ctx, php, filepath.Join(scripts, "publisher.php"), open)
	gl.sync()
	gl.quiet(100 * time.Millisecond)
	g.expect("from_php", []byte(want))
	g.expect("go_jobs", []byte(`s:12:"job from php";`))
	if n := d.mustStatus().procs("ChannelLocked")[0].ProtocolErrors; n != 1 {
		t.Errorf("status: ChannelLocked's protocol_errors = %d after one refused client, want 1", n)
	}
	if log := d.logTail(); !strings.Contains(log, "the first message is not auth") {
		t.Errorf("the refused connection was not logged:\n%s", log)
	}
}

func runPHP(t *testing.T, ctx context.Context, php string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, php, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("php %v: %v\n%s", args, err, out)
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Errorf("%q: %v", a, err)
		return false
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestChannelReload reloads the daemon under a Go client that subscribed
// and watches a queue: the channel server is reloadable, as Workerman's,
// so its new process knows nothing; the client reconnects and restores
// both, and a PHP publisher then reaches it.
func TestChannelReload(t *testing.T) {
	php := needTool(t, "php")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("ChannelServer", "frame://"+addr, "channel", 1))
	d.start()
	st := d.waitReady("ChannelServer", 1)

	g := newGoChannel(t, addr, "")
	g.c.On("from_php", g.record("from_php"))
	g.c.Watch("go_jobs", g.record("go_jobs"), true)
	g.sync()

	d.mustRun(0, "reload")
	d.waitReplaced("ChannelServer", 1, st.pids(), st.Master.PID)
	select {
	case <-g.up:
	case <-time.After(slow(10 * time.Second)):
		t.Fatal("the Go client did not reconnect after reload")
	}
	g.sync() // its restore reached the new process

	scripts, err := filepath.Abs("testdata/channel")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), slow(30*time.Second))
	defer cancel()
	runPHP(t, ctx, php, filepath.Join(scripts, "publisher.php"), addr)
	g.expect("from_php", []byte(`a:7:{s:4:"user";s:3:"ana";s:1:"n";i:7;s:1:"f";d:0.1;s:4:"tags";a:2:{i:0;s:1:"a";i:1;s:1:"b";}s:2:"ok";b:0;s:4:"none";N;s:4:"utf8";s:6:"ação";}`))
	g.expect("go_jobs", []byte(`s:12:"job from php";`))
}
