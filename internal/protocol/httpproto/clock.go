package httpproto

import (
	"sync"
	"sync/atomic"
	"time"
)

// The clock of the protocol: every response carries a Date field with
// one-second resolution, and timeouts are checked about once a second, so
// reading the system clock on every request would be wasted work. A
// goroutine refreshes the formatted date and a coarse timestamp instead, as
// nginx refreshes its cached time once per loop iteration.
const clockTick = 100 * time.Millisecond

type clockState struct {
	now  time.Time
	date []byte // "Date: <IMF-fixdate>\r\n"
}

var (
	clock     atomic.Pointer[clockState]
	clockOnce sync.Once
)

func startClock() {
	clockOnce.Do(func() {
		refreshClock(time.Now())
		go func() {
			t := time.NewTicker(clockTick)
			for now := range t.C {
				refreshClock(now)
			}
		}()
	})
}

func refreshClock(now time.Time) {
	st := &clockState{now: now}
	if old := clock.Load(); old != nil && old.now.Unix() == now.Unix() {
		st.date = old.date
	} else {
		st.date = append(append([]byte("Date: "), now.UTC().Format(http1Date)...), "\r\n"...)
	}
	clock.Store(st)
}

// coarseNow is the time within clockTick.
func coarseNow() time.Time {
	startClock()
	return clock.Load().now
}

func appendDate(dst []byte) []byte {
	return append(dst, currentDate()...)
}

// currentDate is the "Date: ...\r\n" field of this second. Within a second
// it is the same slice every time, so a head cached with it can tell by
// identity whether it is still current.
func currentDate() []byte {
	if st := clock.Load(); st != nil {
		return st.date
	}
	startClock()
	return clock.Load().date
}

const http1Date = "Mon, 02 Jan 2006 15:04:05 GMT"
