package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/bench/internal/echoserver"
	servepkg "github.com/workermand/workermand/bench/internal/serve"
)

func TestHistQuantiles(t *testing.T) {
	var h Hist
	for v := 1; v <= 100000; v++ { // 1µs .. 100ms, uniform
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.99} {
		want := q * 100000 * float64(time.Microsecond)
		got := float64(h.Quantile(q))
		if math.Abs(got-want)/want > 0.035 {
			t.Errorf("q%.2f = %v, want %v ±3.5%%", q, time.Duration(got), time.Duration(want))
		}
	}
	for v := uint64(0); v < 1<<20; v += 7 { // buckets are contiguous and ordered
		if b := bucketOf(v); b < 0 || b >= histBuckets || bucketOf(v+1) < b {
			t.Fatalf("bucketOf(%d) = %d", v, b)
		}
	}
	if b := bucketOf(math.MaxUint64); b != histBuckets-1 {
		t.Fatalf("bucketOf(max) = %d, want %d", b, histBuckets-1)
	}
}

// serve runs the net echo server in-process until the test ends.
func serve(t *testing.T) string { return servepkg.InTest(t, "net echo", echoserver.ListenAndServeNet) }

func cfg(addr, mode string) Config {
	return Config{Addr: addr, Mode: mode, Conns: 8, Size: 64, Batch: 4,
		Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Hold: 5 * time.Second,
		DialTimeout: time.Second, IOTimeout: time.Second, DialParallel: 4, ConnectIn: 5 * time.Second}
}

func TestRunModes(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("server", func(t *testing.T) {
		addr := serve(t)
		for _, mode := range []string{ReqResp, Pipelined} {
			var ev bytes.Buffer
			c := cfg(addr, mode)
			c.Events = &ev
			res, err := Run(context.Background(), c)
			if err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			if res.Msgs == 0 || res.Errors != 0 || res.Mismatches != 0 || res.Conns != 8 {
				t.Fatalf("%s: %+v", mode, res)
			}
			if mode == ReqResp && (res.P50us <= 0 || res.P99us < res.P50us) {
				t.Fatalf("latency: %+v", res)
			}
			if ev.String() != "START\nEND\n" {
				t.Fatalf("events %q", ev.String())
			}
		}
		// Idle: hold until the context is cancelled, right after CONNECTED.
		ctx, cancel := context.WithCancel(context.Background())
		r, w := net.Pipe()
		defer r.Close()
		go func() {
			line, _ := bufio.NewReader(r).ReadString('\n')
			if strings.HasPrefix(line, "CONNECTED 8") {
				cancel()
			}
		}()
		c := cfg(addr, Idle)
		c.Events = w
		start := time.Now()
		res, err := Run(ctx, c)
		w.Close()
		cancel()
		if err != nil || res.Conns != 8 || time.Since(start) > 3*time.Second {
			t.Fatalf("idle: %+v, %v after %s", res, err, time.Since(start))
		}
	})
	// Generator and server both gone: nothing of either may linger.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines before, %d after", before, n)
	}
}

// TestMismatch uses a server that corrupts one byte per line.
func TestMismatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					line[0] ^= 1
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	res, err := Run(context.Background(), cfg(ln.Addr().String(), ReqResp))
	if err != nil {
		t.Fatal(err)
	}
	if res.Mismatches != 8 || res.Msgs != 0 {
		t.Fatalf("want 8 mismatches and no messages: %+v", res)
	}
}
