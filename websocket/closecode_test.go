package websocket

import "testing"

func TestCloseCodeString(t *testing.T) {
	for code, want := range map[CloseCode]string{
		CloseNormal:       "1000 normal closure",
		CloseNoStatus:     "1005 no status",
		CloseTooBig:       "1009 message too big",
		CloseBadGateway:   "1014 bad gateway",
		CloseTLSHandshake: "1015 TLS handshake failure",
		1004:              "1004",
		3000:              "3000 (registered)",
		4999:              "4999 (private)",
		5000:              "5000",
		0:                 "0",
		999:               "999",
	} {
		if got := code.String(); got != want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", uint16(code), got, want)
		}
	}
}
