package test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/testserver"
)

// The client examples (manual 1.15.4–1.15.10: examples/mysqlclient,
// redisclient, httpclient, natsclient, mqttclient, dnsclient,
// memcacheclient), each against a real server the test starts on a free
// loopback port in its own directory (Debian's mariadb-server,
// redis-server, nats-server, mosquitto, memcached; for HTTP and DNS a
// server of the test's). Each test checks what the example answers with
// the server's replies, then what happens when the server is slow (stopped
// with SIGSTOP, or a request it never answers): a /ping is answered while
// the backend call hangs, since it runs off the loop, and the hung call
// ends in a 504 with the error after the example's timeout (1 s here);
// then the server down (killed): a 502 with the error.

// clientTimeout is the examples' backend deadline in these tests.
const clientTimeout = time.Second

// answer is one HTTP answer of an example.
type answer struct {
	code int
	body string
	json map[string]any
	err  error
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.code, strings.TrimSpace(a.body))
}

var clientsHTTP = &http.Client{Timeout: 10 * time.Second}

// get fetches base+path (its JSON body decoded when it is JSON); safe off
// the test's goroutine.
func get(base, path string) answer {
	return do("GET", base+path, "")
}

func do(method, url, body string) answer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	resp, err := clientsHTTP.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: string(b), err: err}
	_ = json.Unmarshal(b, &a.json)
	return a
}

// mustGet fetches base+path and fails unless the status is code.
func mustGet(t *testing.T, base, path string, code int) answer {
	t.Helper()
	a := get(base, path)
	if a.err != nil || a.code != code {
		t.Fatalf("GET %s: %v, want %d", path, a, code)
	}
	return a
}

// eventually fetches base+path until it answers 200: the example's client
// may still be connecting.
func eventually(t *testing.T, base, path string) answer {
	t.Helper()
	var a answer
	waitFor(t, slow(10*time.Second), "GET "+path+" answered 200", func() (bool, string) {
		a = get(base, path)
		return a.err == nil && a.code == 200, a.String()
	})
	return a
}

// checkHung starts GET base+path while the backend hangs (hang has made it
// so) and checks that /ping is answered while that request is pending,
// then that it ends in a 504 with the error, about clientTimeout after it
// started.
func checkHung(t *testing.T, base, path string) {
	t.Helper()
	start := time.Now()
	hung := make(chan answer, 1)
	go func() { hung <- get(base, path) }()
	// Time for the request to reach the loop and its call the backend.
	time.Sleep(200 * time.Millisecond)
	pingStart := time.Now()
	ping := get(base, "/ping")
	if ping.err != nil || ping.code != 200 || ping.json["pong"] == nil {
		t.Errorf("GET /ping while %s hangs: %v, want 200 at once", path, ping)
	}
	select {
	case a := <-hung:
		t.Fatalf("GET %s answered %v within %s, before its backend call timed out", path, a, time.Since(start))
	default:
		t.Logf("GET /ping answered in %s while GET %s hangs", time.Since(pingStart).Round(time.Millisecond), path)
	}
	var a answer
	select {
	case a = <-hung:
	case <-time.After(slow(10 * time.Second)):
		t.Fatalf("GET %s while the backend hangs: no answer within 10 s", path)
	}
	took := time.Since(start)
	if a.err != nil || a.code != 504 || a.json["error"] == nil {
		t.Errorf("GET %s while the backend hangs: %v, want 504 with the error", path, a)
	}
	if took < clientTimeout-100*time.Millisecond || took > clientTimeout+slow(3*time.Second) {
		t.Errorf("GET %s while the backend hangs: answered after %s, want about the timeout %s", path, took, clientTimeout)
	}
	t.Logf("GET %s while the backend hangs: %v after %s", path, a, took.Round(time.Millisecond))
}

// checkDown fetches base+path with the backend gone: a 502 with the
// error, and /ping still answered.
func checkDown(t *testing.T, base, path string) {
	t.Helper()
	a := get(base, path)
	if a.err != nil || a.code != 502 || a.json["error"] == nil {
		t.Errorf("GET %s with the backend down: %v, want 502 with the error", path, a)
	}
	t.Logf("GET %s with the backend down: %v", path, a)
	mustGet(t, base, "/ping", 200)
}

// examples/mysqlclient against mariadbd: notes inserted and listed,
// the server's version; a query to a stopped server, a killed one.
func TestExampleMySQLClient(t *testing.T) {
	t.Parallel()
	// An empty data directory and no grant tables: mariadbd makes its
	// InnoDB files at start and lets anyone in, which is all the example
	// needs, without mariadb-install-db's few seconds.
	db := testserver.Start(t, testserver.Spec{Name: "mariadbd", StartTimeout: slow(15 * time.Second), Args: func(port int, dir string) []string {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"),
			"--socket=" + filepath.Join(dir, "mysqld.sock"), "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
			"--port=" + itoa(port), "--bind-address=127.0.0.1", "--skip-grant-tables", "--skip-name-resolve",
			"--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"}
		if os.Geteuid() == 0 {
			args = append(args, "--user=root")
		}
		return args
	}})
	addr := loopback(t)
	d := startExample(t, "mysqlclient", "MYSQLCLIENT_ADDR="+addr,
		"MYSQLCLIENT_DSN=root@tcp("+db.Addr()+")/", "MYSQLCLIENT_TIMEOUT="+clientTimeout.String())
	d.waitReady("mysqlclient", 1)
	base := "http://" + addr

	if a := eventually(t, base, "/version"); !strings.Contains(fmt.Sprint(a.json["version"]), "MariaDB") {
		t.Errorf("GET /version: %v, want MariaDB's version", a)
	}
	for _, body := range []string{"buy milk", "call Ada"} {
		if a := do("POST", base+"/notes", body); a.code != 200 || a.json["id"] == nil {
			t.Fatalf("POST /notes %q: %v, want 200 with the id", body, a)
		}
	}
	a := mustGet(t, base, "/notes", 200)
	var list []struct {
		ID   int    `json:"id"`
		Body string `json:"body"`
	}
	if err := json.Unmarshal([]byte(a.body), &list); err != nil || len(list) != 2 || list[0].Body != "call Ada" || list[1].Body != "buy milk" {
		t.Errorf("GET /notes: %v (%v), want the two notes, newest first", a, err)
	}

	db.Pause()
	checkHung(t, base, "/version")
	db.Resume()
	// The driver closed the connection of the query that timed out: the
	// pool dials another.
	eventually(t, base, "/version")

	db.Kill()
	checkDown(t, base, "/notes")
	stopExample(t, d, addr)
}

// examples/redisclient against redis-server: set, get, incr, a missing
// key; a command to a stopped server, a killed one.
func TestExampleRedisClient(t *testing.T) {
	t.Parallel()
	rs := testserver.Start(t, testserver.Spec{Name: "redis-server", StartTimeout: slow(15 * time.Second), Args: func(port int, dir string) []string {
		return []string{"--port", itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	}})
	addr := loopback(t)
	d := startExample(t, "redisclient", "REDISCLIENT_ADDR="+addr,
		"REDISCLIENT_REDIS="+rs.Addr(), "REDISCLIENT_TIMEOUT="+clientTimeout.String())
	d.waitReady("redisclient", 1)
	base := "http://" + addr

	if a := eventually(t, base, "/set?key=greeting&value=hello"); a.json["reply"] != "OK" {
		t.Errorf("SET: %v, want Redis's OK", a)
	}
	if a := mustGet(t, base, "/get?key=greeting", 200); a.json["value"] != "hello" {
		t.Errorf("GET greeting: %v", a)
	}
	if a := mustGet(t, base, "/get?key=nope", 200); a.json["value"] != nil || !strings.Contains(a.body, `"value":null`) {
		t.Errorf("GET of a missing key: %v, want null", a)
	}
	for i := 1; i <= 3; i++ {
		if a := mustGet(t, base, "/incr?key=visits", 200); a.json["value"] != float64(i) {
			t.Errorf("INCR %d: %v", i, a)
		}
	}
	if a := mustGet(t, base, "/incr?key=greeting", 502); !strings.Contains(fmt.Sprint(a.json["error"]), "not an integer") {
		t.Errorf("INCR of a string: %v, want Redis's error", a)
	}

	rs.Pause()
	checkHung(t, base, "/get?key=greeting")
	rs.Resume()
	if a := eventually(t, base, "/get?key=greeting"); a.json["value"] != "hello" {
		t.Errorf("GET greeting after the server resumed: %v", a)
	}

	rs.Kill()
	checkDown(t, base, "/get?key=greeting")
	stopExample(t, d, addr)
}

// examples/httpclient in front of an HTTP server of the test's: the
// upstream's status, type and body passed on; a request it never answers;
// the bound on fetches in flight (503 above it); the upstream gone.
func TestExampleHTTPClient(t *testing.T) {
	t.Parallel()
	hangs := make(chan struct{}, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
		case "/hang":
			hangs <- struct{}{}
			select { // until the example gives up and closes its connection
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			http.Error(w, "no such page", 404)
		}
	}))
	defer up.Close()

	addr := loopback(t)
	d := startExample(t, "httpclient", "HTTPCLIENT_ADDR="+addr, "HTTPCLIENT_UPSTREAM="+up.URL,
		"HTTPCLIENT_TIMEOUT="+clientTimeout.String(), "HTTPCLIENT_MAX=2")
	d.waitReady("httpclient", 1)
	base := "http://" + addr

	a := mustGet(t, base, "/fetch?path="+url.QueryEscape("/hello?name=Ada"), 200)
	if a.body != "hello Ada" {
		t.Errorf("fetch /hello: %v, want the upstream's body", a)
	}
	if a := mustGet(t, base, "/fetch?path=/nope", 404); !strings.Contains(a.body, "no such page") {
		t.Errorf("fetch /nope: %v, want the upstream's 404", a)
	}
	mustGet(t, base, "/fetch?path=nope", 400)

	checkHung(t, base, "/fetch?path=/hang")
	<-hangs

	// Two fetches hang, the bound: a third is refused at once, /ping
	// answered, and both hung ones end at their deadline.
	var wg sync.WaitGroup
	hung := make([]answer, 2)
	for i := range hung {
		wg.Go(func() { hung[i] = get(base, "/fetch?path=/hang") })
	}
	for range hung {
		select {
		case <-hangs:
		case <-time.After(slow(5 * time.Second)):
			t.Fatal("the upstream did not get the two hanging fetches")
		}
	}
	start := time.Now()
	if a := get(base, "/fetch?path=/hello"); a.code != 503 || !strings.Contains(fmt.Sprint(a.json["error"]), "too many") {
		t.Errorf("a third fetch with two in flight: %v, want 503", a)
	} else if took := time.Since(start); took > clientTimeout/2 {
		t.Errorf("a third fetch with two in flight: refused after %s, want at once", took)
	}
	mustGet(t, base, "/ping", 200)
	wg.Wait()
	for i, a := range hung {
		if a.code != 504 {
			t.Errorf("hanging fetch %d: %v, want 504", i, a)
		}
	}
	mustGet(t, base, "/fetch?path=/hello", 200)

	up.Close()
	checkDown(t, base, "/fetch?path=/hello")
	stopExample(t, d, addr)
}

// natsConn is a raw NATS protocol client of the test's.
type natsConn struct {
	net.Conn
	r *bufio.Reader
}

func dialNATS(t *testing.T, addr string) *natsConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(slow(20 * time.Second)))
	n := &natsConn{c, bufio.NewReader(c)}
	if line := n.line(t); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("nats-server said %q, want INFO", line)
	}
	fmt.Fprintf(c, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
	if line := n.line(t); line != "PONG" {
		t.Fatalf("nats-server answered %q to PING", line)
	}
	return n
}

func (n *natsConn) line(t *testing.T) string {
	t.Helper()
	for {
		s, err := n.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading from nats-server: %v", err)
		}
		s = strings.TrimSuffix(s, "\r\n")
		if s == "PING" { // the server's keep-alive
			fmt.Fprintf(n, "PONG\r\n")
			continue
		}
		return s
	}
}

// examples/natsclient against nats-server, with a raw subscriber and
// publisher of the test's: what the example publishes reaches the
// subscriber, what the test publishes is listed by the example; a publish
// to a stopped server, a killed one.
func TestExampleNATSClient(t *testing.T) {
	t.Parallel()
	ns := testserver.Start(t, testserver.Spec{Name: "nats-server", StartTimeout: slow(15 * time.Second), Args: func(port int, dir string) []string {
		return []string{"-a", "127.0.0.1", "-p", itoa(port)}
	}})
	addr := loopback(t)
	const subject = "workermand.test"
	d := startExample(t, "natsclient", "NATSCLIENT_ADDR="+addr, "NATSCLIENT_NATS=nats://"+ns.Addr(),
		"NATSCLIENT_SUBJECT="+subject, "NATSCLIENT_TIMEOUT="+clientTimeout.String())
	d.waitReady("natsclient", 1)
	base := "http://" + addr

	sub := dialNATS(t, ns.Addr())
	fmt.Fprintf(sub, "SUB %s 1\r\nPING\r\n", subject)
	if line := sub.line(t); line != "PONG" {
		t.Fatalf("after SUB: %q", line)
	}
	if a := eventually(t, base, "/publish?msg=from+the+example"); a.json["published"] != "from the example" {
		t.Errorf("publish: %v", a)
	}
	if line := sub.line(t); line != "MSG "+subject+" 1 16" {
		t.Fatalf("the subscriber got %q, want the example's message", line)
	}
	if line := sub.line(t); line != "from the example" {
		t.Errorf("the subscriber got %q", line)
	}
	// The example's own subscription got it too, and gets the test's.
	pub := dialNATS(t, ns.Addr())
	fmt.Fprintf(pub, "PUB %s 13\r\nfrom the test\r\nPING\r\n", subject)
	pub.line(t)
	waitFor(t, slow(5*time.Second), "both messages in /messages", func() (bool, string) {
		a := get(base, "/messages")
		return strings.Contains(a.body, `"messages":["from the example","from the test"]`), a.String()
	})

	ns.Pause()
	checkHung(t, base, "/publish?msg=stuck")
	ns.Resume()
	eventually(t, base, "/publish?msg=again")

	ns.Kill()
	// nats.go notices the closed connection and reconnects meanwhile: a
	// publish is then buffered, and its flush fails or times out.
	a := get(base, "/publish?msg=nobody")
	if a.err != nil || (a.code != 502 && a.code != 504) || a.json["error"] == nil {
		t.Errorf("publish with the server down: %v, want 502 or 504 with the error", a)
	}
	t.Logf("publish with the server down: %v", a)
	mustGet(t, base, "/ping", 200)
	stopExample(t, d, addr)
}

// mqttPublish sends one QoS 0 PUBLISH to a broker as a raw MQTT 3.1.1
// client: CONNECT, CONNACK, PUBLISH, DISCONNECT.
func mqttPublish(t *testing.T, addr, topic, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(slow(10 * time.Second)))
	str := func(s string) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...) }
	packet := func(typ byte, body []byte) []byte {
		p := []byte{typ}
		for n := len(body); ; { // the remaining length, 7 bits a byte
			b := byte(n % 128)
			if n /= 128; n > 0 {
				b |= 0x80
			}
			p = append(p, b)
			if n == 0 {
				break
			}
		}
		return append(p, body...)
	}
	connect := append(str("MQTT"), 4, 0x02, 0, 30) // level 4, clean session, keep-alive 30 s
	connect = append(connect, str("workermand-test")...)
	if _, err := c.Write(packet(0x10, connect)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK: % x, %v", ack, err)
	}
	out := packet(0x30, append(str(topic), msg...))
	out = append(out, 0xe0, 0)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	// The broker closes after DISCONNECT, having routed the PUBLISH.
	_, _ = io.Copy(io.Discard, c)
}

// examples/mqttclient against mosquitto: a publish through the example
// comes back through its subscription, as does one of a raw client of the
// test's; a publish to a stopped broker, a killed one.
func TestExampleMQTTClient(t *testing.T) {
	t.Parallel()
	mq := testserver.Start(t, testserver.Spec{Name: "mosquitto", StartTimeout: slow(15 * time.Second), Args: func(port int, dir string) []string {
		conf := filepath.Join(dir, "mosquitto.conf")
		body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n", port)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"-c", conf}
	}})
	addr := loopback(t)
	const topic = "workermand/test"
	d := startExample(t, "mqttclient", "MQTTCLIENT_ADDR="+addr, "MQTTCLIENT_BROKER=tcp://"+mq.Addr(),
		"MQTTCLIENT_TOPIC="+topic, "MQTTCLIENT_TIMEOUT="+clientTimeout.String())
	d.waitReady("mqttclient", 1)
	base := "http://" + addr

	// The subscription is made once connected, maybe after the first
	// publish: publish until one comes back.
	waitFor(t, slow(10*time.Second), "a publish through the example back in /messages", func() (bool, string) {
		a := get(base, "/publish?msg=from+the+example")
		if a.code != 200 {
			return false, "publish: " + a.String()
		}
		time.Sleep(100 * time.Millisecond)
		a = get(base, "/messages")
		return strings.Contains(a.body, topic+": from the example"), a.String()
	})
	mqttPublish(t, mq.Addr(), topic, "from the test")
	waitFor(t, slow(5*time.Second), "the test's message in /messages", func() (bool, string) {
		a := get(base, "/messages")
		return strings.Contains(a.body, topic+": from the test"), a.String()
	})

	mq.Pause()
	checkHung(t, base, "/publish?msg=stuck")
	mq.Resume()
	eventually(t, base, "/publish?msg=again")

	mq.Kill()
	a := get(base, "/publish?msg=nobody")
	if a.err != nil || (a.code != 502 && a.code != 504) || a.json["error"] == nil {
		t.Errorf("publish with the broker down: %v, want 502 or 504 with the error", a)
	}
	t.Logf("publish with the broker down: %v", a)
	mustGet(t, base, "/ping", 200)
	stopExample(t, d, addr)
}

// dnsServer is a UDP name server of the test's: an A record (192.0.2.7)
// for every name under .test but missing.test, which does not exist, and
// no answer at all for names under hang.test.
func dnsServer(t *testing.T) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if out := dnsAnswer(buf[:n]); out != nil {
				pc.WriteToUDP(out, from)
			}
		}
	}()
	return pc
}

// dnsAnswer is the answer to one query, nil for none.
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(q[i+1:i+1+l])))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	name := strings.Join(labels, ".")
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	switch {
	case strings.HasSuffix(name, "hang.test"):
		return nil
	case !strings.HasSuffix(name, ".test"):
		return nil // the resolver's search domains: let them time out too
	}
	// QR, AA, RD, RA; NXDOMAIN for missing.test.
	flags := uint16(0x8580)
	answers := 0
	if name == "missing.test" {
		flags |= 3
	} else if qtype == 1 {
		answers = 1
	}
	out := append([]byte{q[0], q[1]}, binary.BigEndian.AppendUint16(nil, flags)...)
	out = append(out, 0, 1, 0, byte(answers), 0, 0, 0, 0)
	out = append(out, question...)
	if answers == 1 {
		// The name by pointer to the question, A, IN, TTL 60, 4 bytes.
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7)
	}
	return out
}

// examples/dnsclient against a name server of the test's: an address, a
// name that does not exist (404); a query never answered; the server gone.
func TestExampleDNSClient(t *testing.T) {
	t.Parallel()
	ns := dnsServer(t)
	addr := loopback(t)
	d := startExample(t, "dnsclient", "DNSCLIENT_ADDR="+addr, "DNSCLIENT_SERVER="+ns.LocalAddr().String(),
		"DNSCLIENT_TIMEOUT="+clientTimeout.String())
	d.waitReady("dnsclient", 1)
	base := "http://" + addr

	if a := mustGet(t, base, "/resolve?host=app.example.test", 200); !strings.Contains(a.body, `"addresses":["192.0.2.7"]`) {
		t.Errorf("resolve app.example.test: %v, want the server's 192.0.2.7", a)
	}
	if a := mustGet(t, base, "/resolve?host=missing.test", 404); !strings.Contains(fmt.Sprint(a.json["error"]), "no such host") {
		t.Errorf("resolve missing.test: %v, want no such host", a)
	}
	mustGet(t, base, "/resolve", 400)

	checkHung(t, base, "/resolve?host=db.hang.test")

	ns.Close()
	checkDown(t, base, "/resolve?host=app.example.test")
	stopExample(t, d, addr)
}

// examples/memcacheclient against memcached: set, get, incr, a missing key
// (404); a command to a stopped server, a killed one.
func TestExampleMemcacheClient(t *testing.T) {
	t.Parallel()
	mc := testserver.Start(t, testserver.Spec{Name: "memcached", StartTimeout: slow(15 * time.Second), Args: func(port int, dir string) []string {
		args := []string{"-l", "127.0.0.1", "-p", itoa(port), "-U", "0", "-m", "16"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		return args
	}})
	addr := loopback(t)
	d := startExample(t, "memcacheclient", "MEMCACHECLIENT_ADDR="+addr,
		"MEMCACHECLIENT_SERVERS="+mc.Addr(), "MEMCACHECLIENT_TIMEOUT="+clientTimeout.String())
	d.waitReady("memcacheclient", 1)
	base := "http://" + addr

	eventually(t, base, "/set?key=greeting&value=hello")
	if a := mustGet(t, base, "/get?key=greeting", 200); a.json["value"] != "hello" {
		t.Errorf("get greeting: %v", a)
	}
	if a := mustGet(t, base, "/get?key=nope", 404); !strings.Contains(fmt.Sprint(a.json["error"]), "cache miss") {
		t.Errorf("get of a missing key: %v, want memcache's cache miss", a)
	}
	for i := 1; i <= 3; i++ {
		if a := mustGet(t, base, "/incr?key=visits", 200); a.json["value"] != float64(i) {
			t.Errorf("incr %d: %v", i, a)
		}
	}
	mustGet(t, base, "/get", 400)

	mc.Pause()
	checkHung(t, base, "/get?key=greeting")
	mc.Resume()
	if a := eventually(t, base, "/get?key=greeting"); a.json["value"] != "hello" {
		t.Errorf("get greeting after the server resumed: %v", a)
	}

	mc.Kill()
	checkDown(t, base, "/get?key=greeting")
	stopExample(t, d, addr)
}
