package wrk

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

const plain = `Running 1s test @ http://127.0.0.1:18080/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    52.27us   78.41us   1.86ms   98.87%
    Req/Sec   140.27k    19.97k  155.14k    90.91%
  Latency Distribution
     50%   35.00us
     75%   62.00us
     90%   69.00us
     99%    1.41ms
  152754 requests in 1.10s, 20.98MB read
Requests/sec: 138903.26
Transfer/sec:     19.08MB
`

const failing = `Running 2s test @ http://127.0.0.1:1/
  1 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.00s     0.00us   2.00s   100.00%
    Req/Sec     0.00      0.00     0.00      -nan%
  12 requests in 2.00s, 512.00B read
  Socket errors: connect 3, read 4, write 5, timeout 6
  Non-2xx or 3xx responses: 7
Requests/sec:      6.00
Transfer/sec:     256.00B
`

func TestParsePlain(t *testing.T) {
	r, err := Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		Requests: 152754, Duration: 1100 * time.Millisecond, RequestsPerSec: 138903.26,
		LatencyAvg: 52270 * time.Nanosecond, HasPercentiles: true,
		P50: 35 * time.Microsecond, P75: 62 * time.Microsecond, P90: 69 * time.Microsecond, P99: 1410 * time.Microsecond,
	}
	got := r
	got.BytesRead, got.TransferPerSec = 0, 0
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if math.Abs(r.BytesRead-20.98*1024*1024) > 1 || math.Abs(r.TransferPerSec-19.08*1024*1024) > 1 {
		t.Fatalf("bytes %v, transfer %v", r.BytesRead, r.TransferPerSec)
	}
	if r.Failures() != 0 {
		t.Fatalf("failures %d in a clean run", r.Failures())
	}
}

func TestParseCountsEveryKindOfFailure(t *testing.T) {
	r, err := Parse(failing)
	if err != nil {
		t.Fatal(err)
	}
	if r.ConnectErrors != 3 || r.ReadErrors != 4 || r.WriteErrors != 5 || r.Timeouts != 6 || r.Non2xx != 7 || r.Failures() != 25 {
		t.Fatalf("got %+v", r)
	}
	if r.BytesRead != 512 || r.TransferPerSec != 256 || r.HasPercentiles {
		t.Fatalf("got %+v", r)
	}
}

func TestParseRejectsTruncatedOrGarbledReports(t *testing.T) {
	for name, out := range map[string]string{
		"empty":          "",
		"no rate":        strings.Replace(plain, "Requests/sec", "Requests/min", 1),
		"cut before end": plain[:strings.Index(plain, "Transfer/sec")],
		"bad unit":       strings.Replace(plain, "20.98MB read", "20.98XB read", 1),
	} {
		if _, err := Parse(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Parse("Running 1s test\n"); !errors.Is(err, ErrIncomplete) {
		t.Errorf("got %v, want ErrIncomplete", err)
	}
	if _, err := Parse(strings.Replace(failing, "timeout 6", "timeout x", 1)); err == nil {
		t.Error("garbled socket errors line accepted")
	}
}

func TestPipelineScriptBatchesRequests(t *testing.T) {
	s := PipelineScript(16)
	for _, want := range []string{"for i = 1, 16 do", "wrk.format()", "table.concat(r)", "request = function()"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(plain)
	f.Add(failing)
	f.Add("  1 requests in 1.00m, 1.00PB read\nRequests/sec: 1\nTransfer/sec: 1B\n")
	f.Add("Latency Distribution\n 50% 1h\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := Parse(out)
		if err != nil {
			return
		}
		if r.RequestsPerSec < 0 || r.TransferPerSec < 0 || r.BytesRead < 0 || r.Duration < 0 || r.LatencyAvg < 0 {
			t.Fatalf("negative value from %q: %+v", out, r)
		}
	})
}
