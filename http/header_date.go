package http

import (
	"errors"
	"fmt"
	"time"
)

const (
	imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT"
	rfc850Date = "Monday, 02-Jan-06 15:04:05 GMT"
	asctimeDay = "Mon Jan _2 15:04:05 2006"
)

const (
	dayNames   = "SunMonTueWedThuFriSat"
	monthNames = "JanFebMarAprMayJunJulAugSepOctNovDec"
)

// AppendHTTPDate appends t in the IMF-fixdate form of RFC 9110 §5.6.7
// ("Sun, 06 Nov 1994 08:49:37 GMT"), in UTC, without allocating. Years
// outside 0–9999 cannot be written in that form and are clamped.
func AppendHTTPDate(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	year = min(max(year, 0), 9999)
	wd := int(t.Weekday()) * 3
	mo := (int(month) - 1) * 3
	return append(dst,
		dayNames[wd], dayNames[wd+1], dayNames[wd+2], ',', ' ',
		byte('0'+day/10), byte('0'+day%10), ' ',
		monthNames[mo], monthNames[mo+1], monthNames[mo+2], ' ',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), ' ',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), ' ', 'G', 'M', 'T')
}

// ErrBadDate reports a field value that is no HTTP date.
var ErrBadDate = errors.New("not an HTTP date")

// ParseHTTPDate parses the three forms RFC 9110 §5.6.7 requires recipients
// to accept: IMF-fixdate, the obsolete RFC 850 form (whose two-digit year is
// taken, as the RFC says, as the most recent year that is not more than 50
// years in the future) and C's asctime form. The result is in UTC.
func ParseHTTPDate(s string) (time.Time, error) {
	for _, layout := range [...]string{imfFixdate, rfc850Date, asctimeDay} {
		// A quick length check spares time.Parse's error allocation for
		// the forms that cannot match.
		if layout == asctimeDay {
			if len(s) != len(asctimeDay) {
				continue
			}
		} else if layout == imfFixdate && len(s) != len(imfFixdate) {
			continue
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if layout == rfc850Date {
			t = fixTwoDigitYear(t, time.Now())
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: %w", s, ErrBadDate)
}

// fixTwoDigitYear moves a date parsed from a two-digit year (which
// time.Parse puts in 1969–2068) into the century RFC 9110 asks for: not more
// than 50 years after now.
func fixTwoDigitYear(t, now time.Time) time.Time {
	ny := now.UTC().Year()
	y := t.Year()
	y = ny/100*100 + y%100
	if y > ny+50 {
		y -= 100
	}
	return t.AddDate(y-t.Year(), 0, 0)
}
