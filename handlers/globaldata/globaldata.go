// Package globaldata is the stock "globaldata" handler: Workerman's
// GlobalData server (manual 1.15.1), a key-value store that the processes of
// a daemon, and PHP programs using Workerman's GlobalData client, share over
// its wire format unchanged.
//
//	[[worker]]
//	name       = "globalDataServer"
//	listen     = "frame://127.0.0.1:2207"
//	handler    = "globaldata"
//	reloadable = false  # keep the data across reloads, as Workerman does
//	[worker.options]
//	snapshot_file     = "/var/lib/app/globaldata.ser"  # optional
//	snapshot_interval = "1m"
//
// A handler cannot change what the master reads of its worker, so a config
// file must say reloadable = false itself: the key defaults to true, and a
// reload of a reloadable globaldata worker starts it empty (or from its
// last snapshot). The process logs a warning when it is reloadable.
// In code, NewServer makes the worker with Workerman's settings.
//
// The wire format is Workerman's: frames (a 4-byte big-endian length that
// counts itself, then the body), each request PHP's serialize() of an
// array with cmd, key and the command's fields, each reply one serialize()d
// value: get (the value, N; when absent), set (b:1;), add (b:0; when the
// key holds a value), increment (b:0; when absent, else the new value: a
// value is_numeric() refuses counts as 0, int + int stays int unless it
// overflows), cas (b:1; when md5(serialize(current or null)) is the md5
// field, then the value is stored), delete (b:1;). The payload "ping" gets no
// reply. A request that is not such an array, or names no known command,
// closes the connection with serialize('bad request') or
// serialize('bad cmd X') and counts as a protocol error in status.
//
// Values are kept as serialize() writes them after reading them back (for
// a PHP 8 client, the bytes it sent), so a get returns what PHP's own server
// would and a cas digest matches PHP's. Objects are refused (bad request):
// they need their PHP class to mean anything. Where Workerman's server
// would die on a PHP error (an increment step that is no number, an array
// as key), the request is refused instead and the data stays.
//
// With snapshot_file the data is written to that file when the process
// stops and every snapshot_interval when something changed (0: at stop
// only), atomically (a temporary file renamed over it), and read back when
// it starts. The file is one serialize()d PHP array of the keys and values.
package globaldata

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

// DefaultSnapshotInterval is snapshot_interval's default.
const DefaultSnapshotInterval = time.Minute

func init() {
	workerman.RegisterHandler("globaldata", func() workerman.Handler {
		return &Handler{SnapshotInterval: DefaultSnapshotInterval}
	})
}

// Handler serves GlobalData requests. Its options are [worker.options].
type Handler struct {
	// SnapshotFile, when set, is where the data is kept across restarts.
	SnapshotFile string `toml:"snapshot_file"`
	// SnapshotInterval is how often changed data is written to
	// SnapshotFile besides at stop; 0 writes at stop only.
	SnapshotInterval time.Duration `toml:"snapshot_interval"`
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// NewServer returns Workerman's GlobalData server as a worker for
// workerman.RunAll: name "globalDataServer", one process, not reloadable
// (a reload keeps its data). listen is "frame://ip:port", or a Unix socket
// path as "unix:///path" (served with the frame protocol, as Workerman
// does). Set its Handler to a *Handler of your own for a snapshot file.
func NewServer(listen string) *workerman.Worker {
	var w *workerman.Worker
	if path, ok := strings.CutPrefix(listen, "unix://"); ok {
		w = workerman.NewWorker("frame://" + path)
		w.Transport = "unix"
	} else {
		w = workerman.NewWorker(listen)
	}
	w.Name = "globalDataServer"
	w.Count = 1
	w.Reloadable = false
	w.Handler = &Handler{}
	return w
}

// Validate checks the options and makes SnapshotFile absolute.
func (h *Handler) Validate() error {
	if h.SnapshotInterval < 0 {
		return fmt.Errorf("snapshot_interval = %s must not be negative", h.SnapshotInterval)
	}
	if h.SnapshotInterval > 0 && h.SnapshotInterval < 10*time.Millisecond {
		// A bare number in TOML decodes as nanoseconds.
		return fmt.Errorf("snapshot_interval = %s is too short: write a duration string, as in \"1m\"", h.SnapshotInterval)
	}
	if h.SnapshotFile == "" {
		return nil
	}
	abs, err := filepath.Abs(h.SnapshotFile)
	if err != nil {
		return fmt.Errorf("snapshot_file = %q: %w", h.SnapshotFile, err)
	}
	h.SnapshotFile = abs
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("snapshot_file = %q: %w", h.SnapshotFile, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("snapshot_file = %q: %s is not a directory", h.SnapshotFile, dir)
	}
	return nil
}

// Attach serves w with a store of its own. w must speak the frame protocol
// and run one process: with more, each would hold different data.
func (h *Handler) Attach(w *workerman.Worker) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("globaldata: %w", err)
	}
	if p := w.Protocol(); p != "frame" {
		return fmt.Errorf("globaldata: the worker speaks %s; GlobalData is spoken over frame:// (or frame:///path with transport unix)", p)
	}
	if w.Count > 1 {
		return fmt.Errorf("globaldata: count = %d; each process would hold its own data, so run one", w.Count)
	}
	s := &server{h: h, store: newStore()}
	if h.SnapshotFile != "" {
		s.snap = &snapshotWriter{path: h.SnapshotFile}
	}
	start, stop := w.OnWorkerStart, w.OnWorkerStop
	w.OnWorkerStart = func(w *workerman.Worker) {
		s.start(w)
		if start != nil {
			start(w)
		}
	}
	w.OnWorkerStop = func(w *workerman.Worker) {
		if stop != nil {
			stop(w)
		}
		s.stop()
	}
	w.OnMessage = s.message
	return nil
}

// server is one process's GlobalData server.
type server struct {
	h     *Handler
	store *store
	snap  *snapshotWriter
	log   *zap.Logger
	// queued is the store generation of the last snapshot handed to a
	// writer.
	queued uint64
}

func (s *server) start(w *workerman.Worker) {
	loop := w.Loop()
	s.log = loop.Logger().With(zap.String("worker", w.Name))
	if w.Reloadable {
		s.log.Warn("globaldata worker is reloadable: a reload starts it empty (or from its snapshot); set reloadable = false")
	}
	if s.snap == nil {
		return
	}
	s.load()
	if iv := s.h.SnapshotInterval; iv > 0 {
		loop.Timer().Add(iv, func() { s.snapshotAsync(loop) })
	}
}

// load reads the snapshot file. A file that cannot be read is moved aside
// rather than overwritten by the next snapshot of an empty store.
func (s *server) load() {
	path := s.snap.path
	doc, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil {
		err = s.store.LoadSnapshot(doc)
	}
	if err != nil {
		aside := fmt.Sprintf("%s.bad-%d", path, time.Now().Unix())
		rerr := os.Rename(path, aside)
		s.log.Error("globaldata snapshot not loaded; starting empty", zap.String("file", path),
			zap.Error(err), zap.String("moved_to", aside), zap.NamedError("move_error", rerr))
		return
	}
	s.log.Info("globaldata snapshot loaded", zap.String("file", path), zap.Int("keys", s.store.Len()))
}

// snapshotAsync writes the store off the loop if it changed: the document
// is built on the loop (a copy of the bytes), the disk is written by a
// goroutine.
func (s *server) snapshotAsync(loop *workerman.EventLoop) {
	gen := s.store.changes
	if gen == s.queued {
		return
	}
	s.queued = gen
	doc := s.store.Snapshot()
	workerman.Async(loop, func() (struct{}, error) {
		return struct{}{}, s.snap.write(doc, gen)
	}, func(_ struct{}, err error) {
		if err != nil {
			s.log.Error("globaldata snapshot", zap.Error(err))
		}
	})
}

func (s *server) stop() {
	if s.snap == nil || s.store.changes == 0 {
		return
	}
	if err := s.snap.write(s.store.Snapshot(), s.store.changes); err != nil {
		s.log.Error("globaldata snapshot at stop", zap.Error(err))
	}
}

func (s *server) message(c *workerman.Connection, m workerman.Message) {
	if string(m.Data) == pingPayload {
		return
	}
	r, err := decodeRequest(m.Data)
	var reply []byte
	if err == nil {
		reply, err = s.store.Do(r)
	}
	if err != nil {
		var bad *refusal
		if !errors.As(err, &bad) {
			bad = &refusal{Reply: "bad request", Reason: err.Error()}
		}
		s.log.Info("globaldata: closing a connection on a bad request", zap.Stringer("remote", c.RemoteAddr()),
			zap.String("reply", bad.Reply), zap.String("reason", bad.Reason))
		b, _ := phpserialize.Marshal(bad.Reply)
		c.CloseMalformed(b)
		return
	}
	c.Send(reply)
}
