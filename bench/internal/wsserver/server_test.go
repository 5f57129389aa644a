package wsserver

import (
	"context"
	"testing"
	"time"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/serve"
	"github.com/workermand/workermand/bench/internal/tlsload"
	"github.com/workermand/workermand/bench/internal/wsload"
)

// start runs kind on a free loopback port for the test's lifetime.
func start(t *testing.T, kind string) string {
	run := map[string]serve.Func{"gorilla": ServeGorilla, "gnet": ServeGnet}[kind]
	return serve.InTest(t, kind, run)
}

// TestEchoUnderGenerator drives both servers with the benchmark's own
// generator, text and binary: every echo must come back with its type and
// bytes, and idle connections must all be upgraded and answered.
func TestEchoUnderGenerator(t *testing.T) {
	for _, kind := range []string{"gorilla", "gnet"} {
		addr := start(t, kind)
		for _, text := range []bool{false, true} {
			cfg := wsload.Config{Text: text, Config: loadgen.Config{Addr: addr, Mode: wsload.ReqResp, Conns: 4, Size: 300,
				Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond,
				DialTimeout: 2 * time.Second, IOTimeout: 2 * time.Second, DialParallel: 4, ConnectIn: 5 * time.Second}}
			res, err := wsload.Run(context.Background(), cfg)
			if err != nil || res.Errors+res.Mismatches+uint64(res.DialErrors) > 0 || res.Msgs == 0 || res.Conns != 4 {
				t.Fatalf("%s text=%v: %+v, %v", kind, text, res, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		res, _ := wsload.Run(ctx, wsload.Config{Config: loadgen.Config{Addr: addr, Mode: wsload.Idle, Conns: 50, Size: 64, Hold: time.Minute,
			DialTimeout: 2 * time.Second, DialParallel: 10, ConnectIn: 5 * time.Second}})
		cancel()
		if res.Conns != 50 || res.Errors+res.Mismatches+uint64(res.DialErrors) > 0 {
			t.Fatalf("%s idle: %+v", kind, res)
		}
	}
}

// FuzzParseFrame: whatever the bytes, parseFrame must not panic, must
// claim no more than it was given, and a frame it accepts must re-encode
// (unmasked) to a payload of the length it announced.
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0x82, 0x80 | 3, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3})
	f.Add([]byte{0x81, 0x80 | 126, 0, 200, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{0x02, 0x80 | 1, 0, 0, 0, 0, 'x'})  // not final
	f.Add([]byte{0x82, 5, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _, payload, ok := parseFrame(append([]byte{}, b...))
		if n > len(b) {
			t.Fatalf("claims %d of %d bytes", n, len(b))
		}
		if ok && (n <= 0 || len(payload) > n || len(payload) > MaxMessage) {
			t.Fatalf("accepted frame of %d bytes with %d-byte payload", n, len(payload))
		}
		if !ok && n > 0 {
			t.Fatalf("incomplete frame claims %d bytes", n)
		}
	})
}

// TestGorillaTLSUnderGenerator runs gorilla over TLS (wss://) with the
// generator's TLS client and gorilla's own, both trusting only the
// run-time certificate.
func TestGorillaTLSUnderGenerator(t *testing.T) {
	cert, key, err := tlsload.WriteCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve.InTest(t, "gorilla-tls", func(ctx context.Context, addr string, ready func()) error {
		return serveGorilla(ctx, addr, cert, key, ready)
	})
	tcfg, err := tlsload.ClientConfig(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify("wss://"+addr+"/", tcfg); err != nil {
		t.Fatal(err)
	}
	cfg := wsload.Config{TLS: tcfg, Config: loadgen.Config{Addr: addr, Mode: wsload.ReqResp, Conns: 4, Size: 64,
		Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond,
		DialTimeout: 2 * time.Second, IOTimeout: 2 * time.Second, DialParallel: 4, ConnectIn: 5 * time.Second}}
	res, err := wsload.Run(context.Background(), cfg)
	if err != nil || res.Errors+res.Mismatches+uint64(res.DialErrors) > 0 || res.Msgs == 0 || res.Conns != 4 {
		t.Fatalf("wss echo: %+v, %v", res, err)
	}
}
