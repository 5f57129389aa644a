package test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// More real clients against the stock binary's TLS workers: sslscan's
// audit of what the server offers, and a browser on https and wss.

// sslscanReport is the part of `sslscan --xml=-` the tests read.
type sslscanReport struct {
	Tests []struct {
		SNI       string `xml:"sniname,attr"`
		Protocols []struct {
			Type    string `xml:"type,attr"`
			Version string `xml:"version,attr"`
			Enabled string `xml:"enabled,attr"`
		} `xml:"protocol"`
		Renegotiation struct {
			Supported string `xml:"supported,attr"`
		} `xml:"renegotiation"`
		Heartbleed []struct {
			Version    string `xml:"sslversion,attr"`
			Vulnerable string `xml:"vulnerable,attr"`
		} `xml:"heartbleed"`
		Ciphers []sslscanCipher `xml:"cipher"`
		Certs   []struct {
			Key struct {
				Type  string `xml:"type,attr"`
				Curve string `xml:"curve_name,attr"`
				Bits  int    `xml:"bits,attr"`
			} `xml:"pk"`
			Subject  string `xml:"subject"`
			AltNames string `xml:"altnames"`
			Issuer   string `xml:"issuer"`
		} `xml:"certificates>certificate"`
	} `xml:"ssltest"`
}

type sslscanCipher struct {
	Version  string `xml:"sslversion,attr"`
	Bits     int    `xml:"bits,attr"`
	Name     string `xml:"cipher,attr"`
	ID       string `xml:"id,attr"`
	Strength string `xml:"strength,attr"`
	Curve    string `xml:"curve,attr"`
}

func (c sslscanCipher) String() string {
	return fmt.Sprintf("%s %s (%s, %d bits, %s)", c.Version, c.Name, c.ID, c.Bits, c.Strength)
}

// sslscan runs the real sslscan against addr, asking for serverName, and
// returns its one test's report.
func sslscan(t *testing.T, addr, serverName string) (toolResult, sslscanReport) {
	t.Helper()
	bin := needTool(t, "sslscan")
	// --no-colour keeps escape codes out of what a failure prints; the XML
	// on stdout is what is parsed, not the text layout.
	r := runTool(t, slow(60*time.Second), bin, "--no-colour", "--xml=-", "--sni-name="+serverName, addr)
	var rep sslscanReport
	if err := xml.Unmarshal([]byte(r.out), &rep); err != nil || r.code != 0 || len(rep.Tests) != 1 {
		t.Fatalf("sslscan: %v, %d tests\n%s", err, len(rep.Tests), r)
	}
	return r, rep
}

// sslscan against an https:// worker with the defaults: only TLS 1.2 and
// 1.3, and only the cipher suites Go deems secure, all with forward
// secrecy and at least 128-bit keys; the certificate SNI chose, with its
// P-256 key. A worker with min_version = "1.3" offers 1.3 alone.
func TestTLSSSLScan(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, stockBin)
	f := newTLSFiles(t, d.dir)
	d.writeConfig(
		worker("web", "https://127.0.0.1:0", "respond", 1, append(f.table(), "[worker.options]", "status = 200", `body = "ok"`)...),
		worker("strict", "ssl://127.0.0.1:0", "echo", 1, f.table(`min_version = "1.3"`)...),
	)
	d.start()
	d.waitReady("web", 1)
	st := d.waitReady("strict", 1)

	// Go's list of suites without known security problems (not its
	// InsecureCipherSuites: RC4, 3DES, CBC-SHA256, NULL are there).
	secure := map[string]bool{}
	for _, s := range tls.CipherSuites() {
		secure[fmt.Sprintf("0x%04X", s.ID)] = true
	}
	// TLS 1.3 suites are in that list as well; the key exchange of each is
	// always ephemeral.
	for name, want := range map[string]map[string]bool{
		"web":    {"ssl 2": false, "ssl 3": false, "tls 1.0": false, "tls 1.1": false, "tls 1.2": true, "tls 1.3": true},
		"strict": {"ssl 2": false, "ssl 3": false, "tls 1.0": false, "tls 1.1": false, "tls 1.2": false, "tls 1.3": true},
	} {
		r, rep := sslscan(t, st.addr(name), "site.test")
		scan := rep.Tests[0]
		got := map[string]bool{}
		for _, p := range scan.Protocols {
			got[p.Type+" "+p.Version] = p.Enabled == "1"
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: protocols %v, want %v\n%s", name, got, want, r)
		}
		if scan.Renegotiation.Supported != "0" {
			t.Errorf("%s: renegotiation supported\n%s", name, r)
		}
		for _, h := range scan.Heartbleed {
			if h.Vulnerable != "0" {
				t.Errorf("%s: heartbleed on %s\n%s", name, h.Version, r)
			}
		}
		versions := map[string]int{}
		for _, c := range scan.Ciphers {
			versions[c.Version]++
			if !want[strings.ToLower(strings.Replace(c.Version, "TLSv", "tls ", 1))] {
				t.Errorf("%s: %s accepted on a disabled protocol", name, c)
			}
			if !secure["0x"+strings.ToUpper(strings.TrimPrefix(c.ID, "0x"))] {
				t.Errorf("%s: %s is not one of Go's secure cipher suites", name, c)
			}
			if c.Bits < 128 || (c.Strength != "strong" && c.Strength != "acceptable") {
				t.Errorf("%s: weak cipher %s", name, c)
			}
			for _, bad := range []string{"RC4", "DES", "NULL", "EXP", "ADH", "AECDH", "anon", "MD5"} {
				if strings.Contains(c.Name, bad) {
					t.Errorf("%s: weak cipher %s", name, c)
				}
			}
			// Forward secrecy: TLS 1.2 suites must be ECDHE; TLS 1.3's
			// always are. sslscan names the curve of the exchange.
			if (c.Version == "TLSv1.2" && !strings.HasPrefix(c.Name, "ECDHE-")) || c.Curve == "" {
				t.Errorf("%s: %s has no ephemeral key exchange", name, c)
			}
		}
		// A scan that found no suite would pass every check above.
		if versions["TLSv1.3"] == 0 || (want["tls 1.2"] && versions["TLSv1.2"] == 0) {
			t.Errorf("%s: accepted suites per version %v\n%s", name, versions, r)
		}
		if len(scan.Certs) != 1 {
			t.Fatalf("%s: %d certificates in the report\n%s", name, len(scan.Certs), r)
		}
		c := scan.Certs[0]
		if c.Key.Type != "EC" || c.Key.Curve != "prime256v1" || c.Key.Bits != 128 || c.Subject != "site.test" ||
			!strings.Contains(c.AltNames, "DNS:site.test") || c.Issuer != "workermand test CA" {
			t.Errorf("%s: certificate %+v, want site.test's P-256 key issued by the test CA\n%s", name, c, r)
		}
		t.Logf("%s: %d suites accepted (%v), certificate key %s %s", name, len(scan.Ciphers), versions, c.Key.Type, c.Key.Curve)
	}

	// SNI picks the certificate for sslscan too.
	r, rep := sslscan(t, st.addr("web"), "other.test")
	if certs := rep.Tests[0].Certs; len(certs) != 1 || certs[0].Subject != "other.test" || rep.Tests[0].SNI != "other.test" {
		t.Errorf("with SNI other.test: %+v\n%s", certs, r)
	}
}

// spkiHash is Chromium's name for a certificate's key: the base64 SHA-256
// of its SubjectPublicKeyInfo.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Headless Chromium loads a page from an https:// static worker; its
// script opens a wss:// socket to an echo worker that only allows that
// page's origin, sends text, binary and 1 MiB messages and shows each echo
// in the page. Chromium trusts the test certificate's key alone
// (--ignore-certificate-errors-spki-list), so the TLS it runs is its own,
// certificate check included.
func TestTLSChromium(t *testing.T) {
	t.Parallel()
	bin := needTool(t, "chromium")
	root := tempDir(t)
	page, err := os.ReadFile("testdata/ws/page.html")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "page.html"), string(page))
	d := newDaemon(t, stockBin)
	f := newTLSFiles(t, d.dir)
	// The page's origin is what the websocket worker allows, so its port
	// must be known before the config is written.
	origin := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	d.writeConfig(
		worker("web", origin, "static", 1, append(f.table(), "[worker.options]", "root = "+strconv.Quote(root))...),
		worker("wss", "wss://127.0.0.1:0", "echo", 1, append(f.table(), "[worker.websocket]",
			"allowed_origins = ["+strconv.Quote(origin)+"]", `subprotocols = ["chat.v1"]`)...),
	)
	d.start()
	d.waitReady("web", 1)
	st := d.waitReady("wss", 1)

	start := time.Now()
	url := origin + "/page.html?ws=" + neturl.QueryEscape("wss://"+st.addr("wss")+"/echo")
	r := chromiumPage(t, bin, url, "--ignore-certificate-errors-spki-list="+spkiHash(t, f.siteCert))
	t.Logf("chromium page finished in %s", time.Since(start).Round(time.Millisecond))
	for _, e := range r.Errors {
		t.Error("page: " + e)
	}
	if want := "text,binary,large"; strings.Join(r.Echoes, ",") != want {
		t.Errorf("echoes shown in the page: %q, want %s", r.Echoes, want)
	}
	if r.CloseCode != 4000 || r.Protocol != "chat.v1" || r.Origin != origin || !r.OK {
		t.Errorf("page result %+v; want close code 4000 echoed, protocol chat.v1, origin %s", r, origin)
	}
	// Both workers saw TLS handshakes, from the browser.
	after := d.mustStatus()
	for _, name := range []string{"web", "wss"} {
		if c := tlsProc(t, after, name); c.Handshakes == 0 {
			t.Errorf("%s: no TLS handshake counted: %+v", name, c)
		}
	}
}
