package http

import (
	"errors"
	"testing"
	"time"
)

func TestAppendHTTPDate(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC), "Sun, 06 Nov 1994 08:49:37 GMT"},
		{time.Date(2024, 2, 29, 23, 59, 59, 999, time.FixedZone("x", -3600)), "Fri, 01 Mar 2024 00:59:59 GMT"},
		{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), "Mon, 01 Jan 2001 00:00:00 GMT"},
		{time.Unix(0, 0), "Thu, 01 Jan 1970 00:00:00 GMT"},
	} {
		if got := string(AppendHTTPDate(nil, c.t)); got != c.want {
			t.Errorf("AppendHTTPDate(%v) = %q, want %q", c.t, got, c.want)
		}
		if got := c.t.UTC().Format(imfFixdate); got != c.want {
			t.Fatalf("test table disagrees with time.Format: %q", got)
		}
	}
}

func TestAppendHTTPDateAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { _ = AppendHTTPDate(buf[:0], now) }); n != 0 {
		t.Errorf("AppendHTTPDate allocates %v times", n)
	}
}

func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
	} {
		got, err := ParseHTTPDate(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseHTTPDate(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{
		"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37", "Sun, 6 Nov 1994 08:49:37 GMT",
		"1994-11-06T08:49:37Z", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
		"Sun Nov 6 08:49:37 1994",
	} {
		if _, err := ParseHTTPDate(s); !errors.Is(err, ErrBadDate) {
			t.Errorf("ParseHTTPDate(%q) accepted (err %v)", s, err)
		}
	}
}

func TestTwoDigitYear(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ in, want int }{{2026, 2026}, {2076, 2076}, {2077, 1977}, {1994, 1994}, {1969, 2069}, {2000, 2000}} {
		got := fixTwoDigitYear(time.Date(c.in, 1, 2, 0, 0, 0, 0, time.UTC), now).Year()
		if got != c.want {
			t.Errorf("year %d read in 2026 → %d, want %d", c.in, got, c.want)
		}
	}
}

func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Mon, 31 Dec 9999 23:59:59 GMT", "", "Sun, 06 Nov 1994 08:49:37 GMX",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseHTTPDate(s)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip through the form we
		// send.
		out := AppendHTTPDate(nil, tm)
		back, err := ParseHTTPDate(string(out))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q → %v → %q → %v, %v", s, tm, out, back, err)
		}
	})
}
