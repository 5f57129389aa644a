package master

import (
	"errors"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/filemonitor"
)

// monitorState runs the [monitor] file watch (Workerman's FileMonitor): a
// settled change reloads the workers through the same path as SIGUSR1.
// Its fields belong to the master loop, except what the goroutines share.
type monitorState struct {
	armed   bool           // the start-up finished: changes may reload
	cfg     *config.Config // the config the watch was last set up for
	opts    *filemonitor.Options
	watcher *filemonitor.Watcher
	offSaid bool // "off in daemon mode" was logged

	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	pending *filemonitor.Change // changes not yet reloaded, merged
	wake    chan struct{}
}

var (
	// errReloadBusy: a reload is rolling; the change waits for it to end.
	errReloadBusy = errors.New("a reload is already in progress")
	// errMonitorStopped: the monitor or the master stopped while a reload
	// was asked for.
	errMonitorStopped = errors.New("file monitor stopped")
)

// monitorRetry is how often a change waiting for a reload in progress
// tries again.
const monitorRetry = 200 * time.Millisecond

// armMonitor lets the monitor start: a change during start-up would reload
// children still starting.
func (m *Master) armMonitor() {
	m.monitor.armed = true
	m.syncMonitor()
}

// syncMonitor starts, stops or changes the watch to match the current
// config: after start-up, and after every event, which covers a reload
// that changed [monitor]. Cheap when nothing changed.
func (m *Master) syncMonitor() {
	ms := &m.monitor
	if !ms.armed {
		return
	}
	if m.stopping {
		m.stopMonitor()
		ms.armed = false
		return
	}
	if ms.cfg == m.cfg {
		return
	}
	ms.cfg = m.cfg
	opts := m.monitorOptions(m.cfg)
	if opts == nil && m.cfg.Monitor.Enabled && m.opts.Daemonized && !m.cfg.Monitor.InDaemon && !ms.offSaid {
		ms.offSaid = true
		m.log.Info("file monitor off: the master is daemonized and [monitor] in_daemon is false (a deploy copying files would reload mid-copy)")
	}
	if reflect.DeepEqual(opts, ms.opts) {
		return
	}
	m.stopMonitor()
	if opts == nil {
		return
	}
	// (The logger is left out of opts, which DeepEqual compares.)
	started := *opts
	started.Logger = m.log
	w, err := filemonitor.Start(started, ms.changed)
	if err != nil {
		m.log.Error("file monitor cannot start", zap.Error(err))
		return
	}
	ms.opts, ms.watcher = opts, w
	ms.stop = make(chan struct{})
	ms.wake = make(chan struct{}, 1)
	ms.wg.Add(1)
	go m.monitorReloads(ms.stop, ms.wake)
	m.log.Info("file monitor watching", zap.Strings("paths", opts.Paths), zap.Strings("extensions", opts.Extensions),
		zap.Int("directories", w.Dirs()), zap.Duration("debounce", opts.Debounce))
}

// monitorOptions is what cfg's [monitor] watches; nil when it is off.
func (m *Master) monitorOptions(cfg *config.Config) *filemonitor.Options {
	mon := cfg.Monitor
	if !mon.Enabled || m.opts.Daemonized && !mon.InDaemon {
		return nil
	}
	paths := mon.Paths
	if len(paths) == 0 {
		// A Go daemon changes when its binary is rebuilt; the config file
		// is the other thing a reload re-reads.
		for _, p := range []string{cfg.Path, m.opts.Executable} {
			if p != "" {
				paths = append(paths, p)
			}
		}
	}
	o := &filemonitor.Options{
		Paths:      paths,
		Extensions: mon.Extensions,
		Exclude:    mon.Exclude,
		Debounce:   mon.Debounce.Duration,
	}
	// Every reload runs the binary again, whatever changed.
	if m.opts.Executable != "" {
		o.Programs = []string{m.opts.Executable}
	}
	// What the daemon writes itself must not reload it.
	for _, p := range []string{cfg.PidFile, cfg.PidFile + ".lock", cfg.ControlSocket, cfg.LogFile, cfg.StdoutFile} {
		if p != "" && p != ".lock" {
			o.Ignore = append(o.Ignore, p)
		}
	}
	if m.opts.Daemonized {
		o.Ignore = append(o.Ignore, cfg.DaemonLogFile())
	}
	for _, w := range cfg.Workers {
		o.Ignore = append(o.Ignore, w.WrittenFiles()...)
		if w.Addr.IsPath() {
			o.Ignore = append(o.Ignore, w.Addr.Path)
		}
	}
	return o
}

// stopMonitor ends the watch and the goroutine that reloads for it.
func (m *Master) stopMonitor() {
	ms := &m.monitor
	if ms.watcher == nil {
		return
	}
	_ = ms.watcher.Close()
	close(ms.stop)
	ms.wg.Wait()
	ms.watcher, ms.opts, ms.pending = nil, nil, nil
}

// changed is the watcher's callback: it merges the change into the
// pending one and wakes the reloading goroutine, never blocking the
// watcher.
func (ms *monitorState) changed(c filemonitor.Change) {
	ms.mu.Lock()
	if ms.pending == nil {
		ms.pending = &c
	} else {
		p := ms.pending
		for _, f := range c.Files {
			if len(p.Files) < 10 {
				p.Files = append(p.Files, f)
			}
		}
		p.Count += c.Count
		p.Overflow = p.Overflow || c.Overflow
	}
	ms.mu.Unlock()
	select {
	case ms.wake <- struct{}{}:
	default:
	}
}

// monitorReloads reloads for each pending change, one at a time: a change
// that arrives while a reload rolls waits for it to end, then reloads
// again, since the running children may predate it.
func (m *Master) monitorReloads(stop, wake chan struct{}) {
	ms := &m.monitor
	defer ms.wg.Done()
	for {
		select {
		case <-stop:
			return
		case <-wake:
		}
		ms.mu.Lock()
		c := ms.pending
		ms.pending = nil
		ms.mu.Unlock()
		if c == nil {
			continue
		}
		fields := []zap.Field{zap.Strings("files", c.Files), zap.Int("changed", c.Count)}
		if len(c.Files) > 0 {
			fields = append(fields, zap.String("file", c.Files[0]))
		}
		if c.Overflow {
			fields = append(fields, zap.Bool("events_lost", true))
		}
		m.log.Info("file changed; reloading", fields...)
		for {
			err := m.monitorReload(stop)
			if errors.Is(err, errMonitorStopped) {
				return
			}
			if errors.Is(err, errReloadBusy) {
				select {
				case <-stop:
					return
				case <-time.After(monitorRetry):
					continue
				}
			}
			if err != nil {
				// A config saved half-edited fails here; the next save
				// reloads.
				m.log.Error("reload after a file change failed; the monitor keeps watching", append(fields, zap.Error(err))...)
			}
			break
		}
	}
}

// monitorReload runs one non-graceful reload on the master loop, as SIGUSR1
// does, and waits for its end (errMonitorStopped when the monitor or the
// master stopped meanwhile).
func (m *Master) monitorReload(stop chan struct{}) error {
	res := make(chan error, 1)
	req := &request{internal: func() {
		if m.reloading != nil {
			res <- errReloadBusy
			return
		}
		if err := m.reload(false, func(err error) { res <- err }); err != nil {
			res <- err
		}
	}}
	select {
	case m.requests <- req:
	case <-stop:
		return errMonitorStopped
	case <-m.done:
		return errMonitorStopped
	}
	select {
	case err := <-res:
		return err
	case <-stop:
		return errMonitorStopped
	case <-m.done:
		return errMonitorStopped
	}
}
