// Package wrk runs the stock Debian wrk (4.x) as the HTTP load generator:
// one measured run pinned next to a server (Measure), the Lua script of
// its pipelined mode, and the parsing of the report wrk prints.
package wrk

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Result is what one wrk run reported.
type Result struct {
	Requests       uint64        // completed responses in the run
	Duration       time.Duration // the run's length as wrk printed it (10 ms resolution)
	BytesRead      float64       // response bytes, headers included
	RequestsPerSec float64       // wrk's own quotient, from its exact run time
	TransferPerSec float64       // bytes per second
	LatencyAvg     time.Duration
	// Percentiles, present only with --latency. Under pipelining wrk
	// times only the first response of each batch, so ignore them there.
	P50, P75, P90, P99 time.Duration
	HasPercentiles     bool

	ConnectErrors, ReadErrors, WriteErrors, Timeouts uint64
	// Non2xx counts responses with status ≥ 400 (wrk's "Non-2xx or 3xx").
	Non2xx uint64
}

// Failures is the number of errors and bad responses of any kind; a
// measurement with any is not a valid measurement.
func (r Result) Failures() uint64 {
	return r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.Timeouts + r.Non2xx
}

// FailureText describes the failures for a log line.
func (r Result) FailureText() string {
	return fmt.Sprintf("socket errors: connect %d, read %d, write %d, timeout %d; non-2xx/3xx responses %d",
		r.ConnectErrors, r.ReadErrors, r.WriteErrors, r.Timeouts, r.Non2xx)
}

// ErrIncomplete means wrk's report lacked a line every run prints.
var ErrIncomplete = errors.New("wrk report incomplete")

// Parse reads wrk's report (its standard output).
func Parse(out string) (Result, error) {
	var r Result
	var sawTotals, sawRate, sawTransfer bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case f[0] == "Latency" && len(f) >= 2 && f[1] != "Distribution":
			r.LatencyAvg, err = parseTime(f[1])
		case len(f) == 2 && (f[0] == "50%" || f[0] == "75%" || f[0] == "90%" || f[0] == "99%"):
			var d time.Duration
			if d, err = parseTime(f[1]); err == nil {
				r.HasPercentiles = true
				*map[string]*time.Duration{"50%": &r.P50, "75%": &r.P75, "90%": &r.P90, "99%": &r.P99}[f[0]] = d
			}
		case len(f) == 6 && f[1] == "requests" && f[2] == "in" && f[5] == "read":
			// "152754 requests in 1.10s, 20.98MB read"
			if r.Requests, err = strconv.ParseUint(f[0], 10, 64); err != nil {
				break
			}
			if r.Duration, err = parseTime(strings.TrimSuffix(f[3], ",")); err != nil {
				break
			}
			r.BytesRead, err = parseBytes(f[4])
			sawTotals = err == nil
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 2, write 0, timeout 0"
			_, err = fmt.Sscanf(line, "Socket errors: connect %d, read %d, write %d, timeout %d",
				&r.ConnectErrors, &r.ReadErrors, &r.WriteErrors, &r.Timeouts)
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			_, err = fmt.Sscanf(line, "Non-2xx or 3xx responses: %d", &r.Non2xx)
		case f[0] == "Requests/sec:" && len(f) == 2:
			r.RequestsPerSec, err = parseFloat(f[1])
			sawRate = err == nil
		case f[0] == "Transfer/sec:" && len(f) == 2:
			r.TransferPerSec, err = parseBytes(f[1])
			sawTransfer = err == nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("wrk report line %q: %w", line, err)
		}
	}
	if !sawTotals || !sawRate || !sawTransfer {
		return Result{}, fmt.Errorf("%w (totals %v, Requests/sec %v, Transfer/sec %v)", ErrIncomplete, sawTotals, sawRate, sawTransfer)
	}
	return r, nil
}

func parseFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("number %q: %w", s, err)
	}
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("number %q out of range", s)
	}
	return v, nil
}

// parseTime reads wrk's times: "35.00us", "1.17ms", "2.00s", "1.50m", "2.00h".
func parseTime(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := parseFloat(num)
			if err != nil {
				return 0, fmt.Errorf("time %q: %w", s, err)
			}
			if v*float64(u.unit) > math.MaxInt64 {
				return 0, fmt.Errorf("time %q out of range", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("time %q: unknown unit", s)
}

// parseBytes reads wrk's byte counts, which use powers of 1024: "512.00B",
// "20.98MB", "1.02GB".
func parseBytes(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "B")
	if !ok {
		return 0, fmt.Errorf("bytes %q: no B suffix", s)
	}
	scale := 1.0
	if i := strings.IndexAny(num, "KMGTP"); i >= 0 && i == len(num)-1 {
		scale = math.Pow(1024, float64(strings.IndexByte("KMGTP", num[i])+1))
		num = num[:i]
	}
	v, err := parseFloat(num)
	if err != nil {
		return 0, fmt.Errorf("bytes %q: %w", s, err)
	}
	return v * scale, nil
}

// PipelineScript returns a wrk Lua script that sends depth requests per
// write on every connection (the TechEmpower plaintext method): init builds
// the batch once with wrk.format, request returns it every time.
func PipelineScript(depth int) string {
	return fmt.Sprintf(`-- generated by httpbench: %d pipelined requests per write
init = function(args)
  local r = {}
  for i = 1, %d do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
`, depth, depth)
}
