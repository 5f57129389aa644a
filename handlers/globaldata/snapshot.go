package globaldata

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/workermand/workermand/phpserialize"
)

// Snapshot returns the store as one serialize() document: a PHP array of
// the keys and their values, so PHP's unserialize() reads the file as well
// as LoadSnapshot does. Keys are sorted, so an unchanged store gives the
// same bytes.
func (s *store) Snapshot() []byte {
	keys := make([]string, 0, len(s.m))
	size := 16
	for k, v := range s.m {
		keys = append(keys, k)
		size += len(k) + len(v) + 16
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, "a:"...)
	b = strconv.AppendInt(b, int64(len(keys)), 10)
	b = append(b, ":{"...)
	for _, k := range keys {
		// Strings and ints always marshal.
		b, _ = phpserialize.Append(b, phpKey(k))
		b = append(b, s.m[k]...)
	}
	return append(b, '}')
}

// phpKey is the key as PHP holds it: an int for the decimal form of one.
func phpKey(k string) any {
	if n, err := strconv.ParseInt(k, 10, 64); err == nil && strconv.FormatInt(n, 10) == k {
		return n
	}
	return k
}

// LoadSnapshot replaces the store's contents with a document Snapshot
// wrote (or PHP's serialize() of an array).
func (s *store) LoadSnapshot(doc []byte) error {
	v, err := phpserialize.Unmarshal(doc)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	a, ok := v.(*phpserialize.Array)
	if !ok {
		return fmt.Errorf("read snapshot: a %s, not an array", phpserialize.TypeName(v))
	}
	m := make(map[string][]byte, a.Len())
	for k, v := range a.All() {
		key, err := arrayKey(k)
		if err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
		if m[key], err = phpserialize.Marshal(v); err != nil {
			return fmt.Errorf("read snapshot: key %q: %w", key, err)
		}
	}
	s.m = m
	return nil
}

// snapshotWriter writes snapshots to one file atomically (a temporary file
// in the same directory, synced, then renamed over it), from the loop at
// stop and from Async goroutines in between. Writes may finish out of
// order; one older than the file's content is skipped, so a periodic write
// that ends late never undoes the final one.
type snapshotWriter struct {
	path string

	mu      sync.Mutex
	written uint64 // generation of the file's content
}

// write stores doc, the store at generation gen, unless the file already
// holds a later one.
func (w *snapshotWriter) write(doc []byte, gen uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen <= w.written {
		return nil
	}
	if err := writeAtomic(w.path, doc); err != nil {
		return err
	}
	w.written = gen
	return nil
}

func writeAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		// Synced before the rename, so a crash leaves the old file or the
		// new one, never a truncated one under the real name.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	return nil
}
