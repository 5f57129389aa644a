package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/workermand/workermand/internal/testcert"
)

// The TLS tests run real clients (curl, openssl s_client, Go's crypto/tls,
// Node's ws) against the stock binary's https://, wss:// and ssl://
// workers, with a CA and certificates made by the test.

// tlsFiles are a test CA and two certificates it signed, on disk.
type tlsFiles struct {
	ca                        *testcert.CA
	dir, caFile               string
	siteCert, siteKey         string // site.test (and 127.0.0.1), the default
	otherCert, otherKey       string // other.test, chosen by SNI
	siteSerial, otherSerialNo int64
}

func newTLSFiles(t *testing.T, dir string) *tlsFiles {
	t.Helper()
	f := &tlsFiles{ca: testcert.NewCA(t), dir: dir, siteSerial: 1001, otherSerialNo: 2001}
	f.caFile = f.ca.WriteCA(t, dir)
	f.siteCert, f.siteKey = f.ca.Issue(t, testcert.Options{Names: []string{"site.test"}, Serial: f.siteSerial}).Write(t, dir, "site")
	f.otherCert, f.otherKey = f.ca.Issue(t, testcert.Options{Names: []string{"other.test"}, Serial: f.otherSerialNo}).Write(t, dir, "other")
	return f
}

// table is the worker's [worker.tls] table, extra lines added.
func (f *tlsFiles) table(extra ...string) []string {
	return append([]string{"[worker.tls]", fmt.Sprintf("certificates = [ { cert_file = %q, key_file = %q }, { cert_file = %q, key_file = %q } ]",
		f.siteCert, f.siteKey, f.otherCert, f.otherKey)}, extra...)
}

// sClient runs openssl s_client against addr asking for serverName with
// extra flags; it returns the run and the certificate the server sent
// (nil when the handshake failed).
func sClient(t *testing.T, f *tlsFiles, addr, serverName string, extra ...string) (toolResult, *x509.Certificate) {
	t.Helper()
	bin := needTool(t, "openssl")
	args := append([]string{"s_client", "-connect", addr, "-servername", serverName, "-CAfile", f.caFile, "-verify_return_error"}, extra...)
	r := runTool(t, slow(20*time.Second), bin, args...)
	var block *pem.Block
	if i := strings.Index(r.out, "-----BEGIN CERTIFICATE-----"); i >= 0 {
		block, _ = pem.Decode([]byte(r.out[i:]))
	}
	if block == nil {
		return r, nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("s_client printed a certificate that does not parse: %v\n%s", err, r)
	}
	return r, cert
}

func tlsProc(t *testing.T, st *statusDoc, name string) tlsCounters {
	t.Helper()
	var sum tlsCounters
	for _, p := range st.procs(name) {
		sum.Handshakes += p.TLSHandshakes
		sum.Errors += p.TLSHandshakeErrors
		sum.Plaintext += p.TLSPlaintextRejected
	}
	return sum
}

type tlsCounters struct{ Handshakes, Errors, Plaintext uint64 }

// An https:// respond worker: curl over TLS with the test CA, openssl
// s_client (SNI picks the certificate, TLS 1.1 refused, ALPN), plain HTTP
// answered 400, and the counters in status.
func TestTLSHTTPS(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	f := newTLSFiles(t, d.dir)
	lines := append(f.table(`alpn = ["http/1.1"]`), "[worker.options]", "status = 200", `body = "Hello, World!"`)
	d.writeConfig(worker("web", "https://127.0.0.1:0", "respond", 2, lines...))
	if r := d.run("check"); r.code != 0 || !strings.Contains(r.out, "config ok") {
		t.Fatalf("check: %s", r)
	}
	d.start()
	st := d.waitReady("web", 2)
	addr := st.addr("web")
	if l := st.worker("web").Listen; !strings.HasPrefix(l, "https://127.0.0.1:") {
		t.Fatalf("status shows %q", l)
	}
	_, port, _ := strings.Cut(addr, ":")

	// curl verifies the certificate for the name it asked for.
	for _, name := range []string{"site.test", "other.test"} {
		r := curl(t, "--cacert", f.caFile, "--resolve", name+":"+port+":127.0.0.1", "-w", "\n%{http_code} %{ssl_verify_result}", "https://"+name+":"+port+"/")
		if r.out != helloBody+"\n200 0" {
			t.Fatalf("curl %s: %q", name, r.out)
		}
	}
	// Plain HTTP on the TLS port: a 400 that says what to do.
	r := curl(t, "-w", "\n%{http_code}", "http://"+addr+"/")
	if !strings.HasSuffix(r.out, "\n400") || !strings.Contains(r.out, "use https://") {
		t.Fatalf("plain HTTP on the TLS port: %q", r.out)
	}

	// SNI: each name gets its own certificate, an unknown one the first.
	for name, serial := range map[string]int64{"site.test": f.siteSerial, "other.test": f.otherSerialNo, "unknown.test": f.siteSerial} {
		r, cert := sClient(t, f, addr, name)
		if cert == nil || cert.SerialNumber.Int64() != serial {
			t.Fatalf("s_client -servername %s: want serial %d\n%s", name, serial, r)
		}
		if name != "unknown.test" && (r.code != 0 || !strings.Contains(r.out, "Verify return code: 0 (ok)")) {
			t.Fatalf("s_client -servername %s did not verify\n%s", name, r)
		}
	}
	// ALPN as configured.
	if r, _ := sClient(t, f, addr, "site.test", "-alpn", "h2,http/1.1"); !strings.Contains(r.out, "ALPN protocol: http/1.1") {
		t.Fatalf("ALPN not negotiated\n%s", r)
	}
	// TLS 1.1 is refused by the server (SECLEVEL=0 so that the client's
	// own OpenSSL offers it at all).
	before := tlsProc(t, d.mustStatus(), "web")
	if r, cert := sClient(t, f, addr, "site.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"); r.code == 0 || cert != nil {
		t.Fatalf("TLS 1.1 was accepted\n%s", r)
	}
	var after tlsCounters
	waitFor(t, slow(5*time.Second), "the refused handshake counted", func() (bool, string) {
		after = tlsProc(t, d.mustStatus(), "web")
		return after.Errors > before.Errors, fmt.Sprintf("%+v", after)
	})
	// The two curl handshakes at least: s_client with no input closes the
	// moment its side is done, often before the server's TLS 1.3 session
	// ticket went out, which the server counts as a failed handshake (the
	// peer is gone). One plain request.
	if after.Handshakes < 2 || after.Plaintext != 1 {
		t.Fatalf("counters %+v, want at least 2 handshakes and 1 plaintext rejected", after)
	}
	if out := d.run("status").out; !strings.Contains(out, "TLS STATUS") || !strings.Contains(out, "plaintext_rejected") {
		t.Fatalf("status shows no TLS counters:\n%s", out)
	}
}

// A wss:// echo worker: Go's coder/websocket over crypto/tls, and Node's ws
// trusting the test CA.
func TestTLSWSS(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	f := newTLSFiles(t, d.dir)
	lines := append(f.table(), "[worker.websocket]", `subprotocols = ["chat.v2", "chat.v1"]`)
	d.writeConfig(worker("wss", "wss://127.0.0.1:0", "echo", 1, lines...))
	d.start()
	url := "wss://" + d.waitReady("wss", 1).addr("wss") + "/"

	ctx, cancel := context.WithTimeout(context.Background(), slow(20*time.Second))
	defer cancel()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool}}}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c.SetReadLimit(4 << 20)
	for _, msg := range [][]byte{[]byte("hello over TLS"), bytes.Repeat([]byte("0123456789abcdef"), 64<<10)} {
		if err := wsEcho(ctx, c, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}

	t.Run("node", func(t *testing.T) {
		node, nodePath := needNodeWS(t)
		r, err := runNodeEcho(t, node, nodePath, url, "NODE_EXTRA_CA_CERTS="+f.caFile)
		for _, e := range r.Errors {
			t.Error("echo.js: " + e)
		}
		if strings.Join(r.Echoes, ",") != "text,binary,large,fragmented" || r.CloseCode != 4000 || err != nil || !r.OK {
			t.Fatalf("node over wss: echoes %q, close %d, exit %v", r.Echoes, r.CloseCode, err)
		}
	})
}

// reload re-reads the certificates: a renewed one is served by the new
// children; a broken key makes reload fail with the reason and the running
// children keep serving what they loaded.
func TestTLSReloadCertificates(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	f := newTLSFiles(t, d.dir)
	d.writeConfig(worker("raw", "ssl://127.0.0.1:0", "echo", 1, f.table()...))
	d.start()
	addr := d.waitReady("raw", 1).addr("raw")
	serial := func() int64 {
		t.Helper()
		r, cert := sClient(t, f, addr, "site.test")
		if cert == nil {
			t.Fatalf("no certificate\n%s", r)
		}
		return cert.SerialNumber.Int64()
	}
	if s := serial(); s != f.siteSerial {
		t.Fatalf("serial %d, want %d", s, f.siteSerial)
	}

	renewed := f.ca.Issue(t, testcert.Options{Names: []string{"site.test"}, Serial: 1002})
	writeFile(t, f.siteCert, string(renewed.CertPEM))
	writeFile(t, f.siteKey, string(renewed.KeyPEM))
	d.mustRun(0, "reload")
	if s := serial(); s != 1002 {
		t.Fatalf("after reload: serial %d, want the renewed 1002", s)
	}
	pids := d.waitReady("raw", 1).pids()

	writeFile(t, f.siteKey, "not a key\n")
	r := d.mustRun(2, "reload") // 2: a config error, as for any bad file
	if !strings.Contains(r.err, d.cfg+":") || !strings.Contains(r.err, "worker[0].tls.certificates[0]") || !strings.Contains(r.err, "no PEM private key") {
		t.Fatalf("reload with a broken key: %s", r)
	}
	if s := serial(); s != 1002 {
		t.Fatalf("after the refused reload: serial %d, want 1002 still", s)
	}
	if now := d.mustStatus().pids(); fmt.Sprint(now) != fmt.Sprint(pids) {
		t.Fatalf("processes changed on a refused reload: %v, then %v", pids, now)
	}
	// check says the same, at the key.
	if r := d.run("check"); r.code != 2 || !strings.Contains(r.err, "worker[0].tls.certificates[0]: ") {
		t.Fatalf("check: %s", r)
	}
}

// sClientHTTP runs openssl s_client with an HTTP/1.0 request on its input
// and -ign_eof, so that it reads until the server closes after answering:
// a TLS 1.3 session ticket, which the server sends after the handshake,
// is then always read (and saved by -sess_out) before s_client exits,
// where with no input it may quit first. The server ends with a
// close_notify alert, so OpenSSL 3 sees no "unexpected eof".
func sClientHTTP(t *testing.T, f *tlsFiles, addr string, extra ...string) toolResult {
	t.Helper()
	bin := needTool(t, "openssl")
	args := append([]string{"s_client", "-connect", addr, "-servername", "site.test", "-CAfile", f.caFile,
		"-verify_return_error", "-ign_eof"}, extra...)
	r := runToolInput(t, slow(20*time.Second), "GET / HTTP/1.0\r\nHost: site.test\r\n\r\n", bin, args...)
	if r.code != 0 || !strings.Contains(r.out, helloBody) {
		t.Fatalf("no answer over TLS\n%s", r)
	}
	return r
}

// TLS session resumption across the children of a worker and across a
// reload: the master hands every child the same session-ticket keys. One
// session is saved (-sess_out) per TLS version, then offered (-sess_in) on
// new connections that the kernel spreads over the four children's
// reuse_port sockets; each must resume, and status must show that more
// than the child that issued the ticket took them. After a reload, whose
// new children get the keys the master kept, the same sessions resume.
func TestTLSSessionResumptionAcrossChildren(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	f := newTLSFiles(t, d.dir)
	// reuse_port: one socket per child, the kernel choosing by the
	// client's port, so connections reach several children for sure;
	// children sharing one socket may well take turns unevenly. A port
	// of its own: with :0 each reuse_port socket would get another one.
	lines := append([]string{"reuse_port = true"}, f.table()...)
	lines = append(lines, "[worker.options]", "status = 200", `body = "Hello, World!"`)
	d.writeConfig(worker("web", fmt.Sprintf("https://127.0.0.1:%d", freePort(t)), "respond", 4, lines...))
	d.start()
	addr := d.waitReady("web", 4).addr("web")

	const resumptions = 12
	sessions := map[string]string{}
	for _, version := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(d.dir, "session"+version)
		sessions[version] = sess
		if r := sClientHTTP(t, f, addr, version, "-sess_out", sess); !strings.Contains(r.out, "\nNew, TLSv1.") {
			t.Fatalf("%s: the first connection is not a new session\n%s", version, r)
		}
		for i := range resumptions {
			if r := sClientHTTP(t, f, addr, version, "-sess_in", sess); !strings.Contains(r.out, "\nReused, TLSv1.") {
				t.Fatalf("%s: connection %d did not resume the session\n%s", version, i+1, r)
			}
		}
	}
	accepted := map[int]uint64{} // pid → connections accepted
	var total uint64
	for _, p := range d.mustStatus().procs("web") {
		if p.Accepted > 0 {
			accepted[p.PID] = p.Accepted
		}
		total += p.Accepted
	}
	if want := uint64(2 * (1 + resumptions)); len(accepted) < 2 || total != want {
		t.Fatalf("connections accepted by pid %v (%d in all, want %d): resumption across children is not shown", accepted, total, want)
	}

	d.mustRun(0, "reload")
	after := d.waitReady("web", 4)
	for _, p := range after.procs("web") {
		if _, old := accepted[p.PID]; old {
			t.Fatalf("child %d still serves after the reload", p.PID)
		}
	}
	for version, sess := range sessions {
		if r := sClientHTTP(t, f, addr, version, "-sess_in", sess); !strings.Contains(r.out, "\nReused, TLSv1.") {
			t.Fatalf("%s: no resumption after the reload\n%s", version, r)
		}
	}
}
