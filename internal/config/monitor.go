package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultMonitorDebounce is how long [monitor] waits for a burst of changes
// (a build writing the binary, a git checkout) to settle before it reloads.
const DefaultMonitorDebounce = 300 * time.Millisecond

// minMonitorDebounce keeps a reload from starting in the middle of a burst:
// below it, one `go build` gives several reloads.
const minMonitorDebounce = 10 * time.Millisecond

// DefaultMonitorExclude are the names left out of watched directories when
// exclude is not set: hidden files and directories (.git, an editor's swap
// and lock files), editors' backups and temporaries (vim's "4913" probe),
// and logs, which the daemon itself may write there.
var DefaultMonitorExclude = []string{".*", "*~", "#*#", "4913", "*.log"}

var monitorKeys = []string{"enabled", "paths", "extensions", "exclude", "in_daemon", "debounce"}

// Monitor is the [monitor] table: files whose change reloads the reloadable
// workers, as Workerman's FileMonitor does. The table's presence turns it
// on.
type Monitor struct {
	// Enabled is true when the file has a [monitor] table without
	// enabled = false.
	Enabled bool
	// Paths are the files and directories watched, made absolute
	// (relative to the config file's directory). Empty means the default:
	// the config file and the program's binary, which only the master
	// knows.
	Paths []string
	// Extensions filter the files found in watched directories, without
	// the dot ("go", "tmpl"); empty means any. A file named in Paths is
	// watched whatever its extension.
	Extensions []string
	// Exclude are globs (path/filepath.Match) left out of watched
	// directories: one without a slash is matched against every name below
	// the directory, one with a slash against the path relative to it, or
	// against the absolute path when it starts with one.
	// DefaultMonitorExclude when the key is absent.
	Exclude []string
	// InDaemon keeps the monitor on when the master is daemonized; off by
	// default because a deploy copying files into place would reload the
	// workers halfway through the copy.
	InDaemon bool
	// Debounce is the quiet period after the last change before the reload
	// (default 300 ms).
	Debounce Duration

	pathKeys []string // monitor.paths[i] of each path, for Check
}

// monitor reads the [monitor] table into c.Monitor.
func (ck *checker) monitor(c *Config, top *table) {
	c.Monitor = Monitor{Debounce: Duration{DefaultMonitorDebounce}, Exclude: DefaultMonitorExclude}
	v, ok := top.get("monitor")
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		top.wrongType("monitor", "a table ([monitor])", v)
		return
	}
	mon := &c.Monitor
	mon.Enabled = true
	t := ck.table("monitor", m)
	t.boolean("enabled", &mon.Enabled)
	t.boolean("in_daemon", &mon.InDaemon)
	t.duration("debounce", &mon.Debounce)
	if t.has("debounce") && mon.Debounce.Duration < minMonitorDebounce {
		ck.add(t.key("debounce"), "must be at least %s, so that a burst of writes gives one reload", minMonitorDebounce)
	}

	dir := filepath.Dir(c.Path)
	if c.Path == "" {
		dir, _ = os.Getwd()
	}
	t.eachString("paths", func(key, p string) {
		switch {
		case p == "":
			ck.add(key, "must not be empty")
		case strings.IndexByte(p, 0) >= 0:
			ck.add(key, "must not contain NUL bytes")
		default:
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			mon.Paths = append(mon.Paths, filepath.Clean(p))
			mon.pathKeys = append(mon.pathKeys, key)
		}
	})
	if list, ok := m["paths"].([]any); ok && len(list) == 0 {
		ck.add(t.key("paths"), "is empty: nothing would be watched (leave it out for the config file and the program, or set enabled = false)")
	}
	t.eachString("extensions", func(key, e string) {
		e = strings.TrimPrefix(e, ".")
		switch {
		case e == "":
			ck.add(key, "must not be empty (leave extensions out to watch files of any extension)")
		case strings.ContainsAny(e, "/\x00*?["):
			ck.add(key, "%q is not a file extension (as in \"go\" or \".tmpl\")", e)
		default:
			mon.Extensions = append(mon.Extensions, e)
		}
	})
	var exclude []string
	if t.eachString("exclude", func(key, g string) {
		if _, err := filepath.Match(g, ""); g == "" || errors.Is(err, filepath.ErrBadPattern) {
			ck.add(key, "%q is not a glob (as in \"*.tmp\", \"vendor\" or \"cache/*\")", g)
			return
		}
		exclude = append(exclude, g)
	}) {
		mon.Exclude = append([]string{}, exclude...)
	}
	t.unknown(monitorKeys)
}

// eachString calls fn with the key and value of each element of the array
// of strings at k, in order, reporting those that are not strings. It
// reports false when the key is absent or not an array.
func (t *table) eachString(k string, fn func(key, s string)) bool {
	v, ok := t.get(k)
	if !ok {
		return false
	}
	list, ok := v.([]any)
	if !ok {
		t.wrongType(k, "an array of strings", v)
		return false
	}
	for i, e := range list {
		key := indexKey(t.key(k), i)
		if s, ok := e.(string); ok {
			fn(key, s)
		} else {
			t.ck.add(key, "must be a string, not %s", typeName(e))
		}
	}
	return true
}

// Summary is the monitor's line in `check`: what it watches and when; ""
// when it is off.
func (m Monitor) Summary() string {
	if !m.Enabled {
		return ""
	}
	what := "the config file and the program"
	if len(m.Paths) > 0 {
		what = strings.Join(m.Paths, ", ")
	}
	if len(m.Extensions) > 0 {
		what += " (*." + strings.Join(m.Extensions, ", *.") + ")"
	}
	when := "in the foreground"
	if m.InDaemon {
		when = "in the foreground and daemonized"
	}
	return fmt.Sprintf("%s, %s, reloading %s after a change", what, when, m.Debounce.Duration)
}

// checkMonitor warns of watched paths that do not exist: the monitor
// watches for them to appear, which is rarely what a typo meant.
func (c *Config) checkMonitor(say func(key, format string, args ...any)) {
	if !c.Monitor.Enabled {
		return
	}
	for i, p := range c.Monitor.Paths {
		if _, err := os.Stat(p); err != nil {
			msg := err.Error()
			var pe *os.PathError
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			say(c.Monitor.pathKeys[i], "%s: %s; the monitor will watch for it to appear", p, msg)
		}
	}
}
