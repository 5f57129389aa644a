package workerman_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	wmhttp "github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/testcert"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// TestTLSWorker: a code-first TLS worker, by the ssl:// shorthand and by
// Transport "ssl" with TLS set; OnConnect runs after the handshake and
// sees its parameters.
func TestTLSWorker(t *testing.T) {
	ca := testcert.NewCA(t)
	pair := ca.Issue(t, testcert.Options{Names: []string{"site.test"}})
	srv := &tls.Config{Certificates: []tls.Certificate{pair.Cert}, NextProtos: []string{"line"}}
	for _, tc := range []struct{ listen, transport string }{
		{"ssl://127.0.0.1:0", ""},
		{"text://127.0.0.1:0", "ssl"},
		{"text://127.0.0.1:0", ""}, // TLS set: ssl is implied
	} {
		w := workerman.NewWorker(tc.listen)
		w.Transport, w.TLS = tc.transport, srv
		var connected string
		w.OnConnect = func(c *workerman.Connection) {
			st, ok := c.TLSConnectionState()
			connected = fmt.Sprintf("%v %s %s", ok, st.ServerName, st.NegotiatedProtocol)
		}
		w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
			c.SendString(connected + " " + string(m.Data))
			if !strings.HasSuffix(string(m.Data), "\n") {
				c.SendString("\n")
			}
		}
		workermantest.Start(t, w)
		if w.Transport != "ssl" {
			t.Fatalf("%s: transport %q", tc.listen, w.Transport)
		}
		c, err := tls.Dial("tcp", w.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "site.test", NextProtos: []string{"line"}})
		if err != nil {
			t.Fatalf("%s: %v", tc.listen, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "hi\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, "true site.test line hi") {
			t.Fatalf("%s: got %q, %v", tc.listen, line, err)
		}
	}
}

// https:// is http over TLS; a plain request on its port gets a 400.
func TestTLSWorkerHTTPS(t *testing.T) {
	ca := testcert.NewCA(t)
	pair := ca.Issue(t, testcert.Options{})
	w := workerman.NewWorker("https://127.0.0.1:0")
	w.TLS = &tls.Config{Certificates: []tls.Certificate{pair.Cert}}
	w.OnMessage = func(c *workerman.Connection, _ workerman.Message) {
		_, _ = c.SendValue(wmhttp.NewResponse(200).WithBodyString("ok\n"))
	}
	workermantest.Start(t, w)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	resp, err := client.Get("https://" + w.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	resp, err = (&http.Client{Timeout: 5 * time.Second}).Get("http://" + w.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "use https://") {
		t.Fatalf("plain HTTP: %d %q", resp.StatusCode, body)
	}
}

func TestTLSWorkerRefused(t *testing.T) {
	pair := testcert.SelfSigned(t, testcert.Options{})
	good := &tls.Config{Certificates: []tls.Certificate{pair.Cert}}
	for _, tc := range []struct {
		listen, transport string
		cfg               *tls.Config
		want              string
	}{
		{"https://127.0.0.1:0", "", nil, `transport "ssl" needs TLS`},
		{"text://127.0.0.1:0", "ssl", nil, `transport "ssl" needs TLS`},
		{"https://127.0.0.1:0", "tcp", good, `transport "tcp" contradicts`},
		{"text://127.0.0.1:0", "tcp", good, `TLS is set but Transport is "tcp"`},
		{"text://127.0.0.1:0", "", &tls.Config{}, "TLS has no certificate"},
		{"udp://127.0.0.1:0", "", good, "UDP carries no TLS"},
	} {
		w := workerman.NewWorker(tc.listen)
		w.Transport, w.TLS = tc.transport, tc.cfg
		w.OnMessage = func(*workerman.Connection, workerman.Message) {}
		_, err := workerman.NewProcess(workerman.ProcessOptions{}, w)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: err %v, want %q", tc.listen, tc.transport, err, tc.want)
		}
	}
}
