package workerman_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// proxyWorker is a text worker trusting PROXY headers from sources; it
// answers every line with the connection's remote IP and the line.
func proxyWorker(t *testing.T, sources ...string) *workerman.Worker {
	t.Helper()
	w := textWorker("proxy")
	for _, s := range sources {
		w.ProxyProtocol = append(w.ProxyProtocol, netip.MustParsePrefix(s))
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		c.SendString(c.RemoteIP() + " " + string(m.Data))
	}
	workermantest.Start(t, w)
	return w
}

func proxyV2TCP4(src string, sport uint16) string {
	a := netip.MustParseAddr(src).As4()
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	b = append(b, a[:]...)
	b = append(b, 10, 0, 0, 1)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, 80)
	return string(b)
}

func TestProxyProtocolV1(t *testing.T) {
	w := proxyWorker(t, "127.0.0.1/32")
	c := dialWorker(t, w)
	c.write("PROXY TCP4 203.0.113.7 10.0.0.1 4567 80\r\nhello\n")
	c.expectLine("203.0.113.7 hello")
	c.write("again\n")
	c.expectLine("203.0.113.7 again")
}

func TestProxyProtocolV1Split(t *testing.T) {
	w := proxyWorker(t, "127.0.0.1/32")
	c := dialWorker(t, w)
	c.write("PROXY TCP6 2001:db8::7 2001:")
	c.write("db8::1 4567 443\r")
	c.write("\nhel")
	c.write("lo\n")
	c.expectLine("2001:db8::7 hello")
}

func TestProxyProtocolV2(t *testing.T) {
	w := proxyWorker(t, "127.0.0.0/8")
	c := dialWorker(t, w)
	c.write(proxyV2TCP4("198.51.100.9", 1234) + "hello\n")
	c.expectLine("198.51.100.9 hello")
}

func TestProxyProtocolV2Local(t *testing.T) {
	w := proxyWorker(t, "127.0.0.1/32")
	c := dialWorker(t, w)
	c.write("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00ping\n")
	c.expectLine("127.0.0.1 ping")
}

func TestProxyProtocolRequiredFromListed(t *testing.T) {
	w := proxyWorker(t, "127.0.0.1/32")
	c := dialWorker(t, w)
	c.write("hello\n")
	c.expectEOF()

	c = dialWorker(t, w)
	c.write("PROXY TCP4 203.0.113.7 10.0.0.1 99999 80\r\nhello\n")
	c.expectEOF()
}

func TestProxyProtocolUnlistedPeer(t *testing.T) {
	w := proxyWorker(t, "10.0.0.0/8")
	c := dialWorker(t, w)
	c.write("PROXY TCP4 203.0.113.7 10.0.0.1 4567 80\r\nhello\n")
	c.expectLine("127.0.0.1 PROXY TCP4 203.0.113.7 10.0.0.1 4567 80")
	c.expectLine("127.0.0.1 hello")
}
