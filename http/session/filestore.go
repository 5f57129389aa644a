package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FileStore keeps each session in a file session_<id> (mode 0600) in Dir,
// like Workerman's FileSessionHandler. A file starts with its expiry time, so
// Load needs no lifetime and a file saved with a longer lifetime is not cut
// short by a later, shorter one.
//
// Writes go to a temporary file that is renamed over the old one, so a
// reader sees the old or the new session, never a torn one.
type FileStore struct {
	// Dir holds the files. Empty means DefaultFileDir, which is created
	// (0700) when missing and refused when it is not a directory owned by
	// this user that nobody else may write: in a shared temp dir another
	// user could otherwise plant or remove sessions.
	Dir string
}

// DefaultFileDir is the directory of a FileStore with an empty Dir.
func DefaultFileDir() string { return filepath.Join(os.TempDir(), "workermand-sessions") }

const (
	filePrefix = "session_"
	tmpPrefix  = ".session_"
	// headerMax bounds the expiry line: "expires <unix ms>\n".
	headerMax = 64
)

func (s *FileStore) dir() (string, error) {
	if s.Dir != "" {
		return s.Dir, nil
	}
	d := DefaultFileDir()
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("session: create %s: %w", d, err)
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return "", fmt.Errorf("session: %s is not a directory", d)
	case st != nil && int(st.Uid) != os.Getuid():
		return "", fmt.Errorf("session: %s belongs to uid %d, not to this user; set FileStore.Dir", d, st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		return "", fmt.Errorf("session: %s is writable by others (mode %v); set FileStore.Dir", d, fi.Mode().Perm())
	}
	return d, nil
}

func (s *FileStore) path(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	d, err := s.dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, filePrefix+id), nil
}

// Load implements Store.
func (s *FileStore) Load(_ context.Context, id string) ([]byte, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session: load: %w", err)
	}
	exp, data, ok := parseFile(b)
	if !ok || !time.Now().Before(exp) {
		// A file that is not ours to read is as good as absent; GC
		// removes it.
		return nil, nil
	}
	return data, nil
}

// parseFile splits a session file into its expiry and its data.
func parseFile(b []byte) (time.Time, []byte, bool) {
	line, data, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return time.Time{}, nil, false
	}
	v, ok := bytes.CutPrefix(line, []byte("expires "))
	if !ok {
		return time.Time{}, nil, false
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}, nil, false
	}
	return time.UnixMilli(ms), data, true
}

// Save implements Store.
func (s *FileStore) Save(_ context.Context, id string, data []byte, lifetime time.Duration) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if s.Dir != "" {
		// A configured directory may have been removed by a temp cleaner
		// since the last save; recreate it rather than fail every save.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("session: save: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, tmpPrefix+id+".*")
	if err != nil {
		return fmt.Errorf("session: save: %w", err)
	}
	tmp := f.Name()
	buf := make([]byte, 0, headerMax+len(data))
	buf = append(buf, "expires "...)
	buf = strconv.AppendInt(buf, time.Now().Add(lifetime).UnixMilli(), 10)
	buf = append(buf, '\n')
	buf = append(buf, data...)
	// CreateTemp makes the file 0600, which is what a session needs.
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("session: save: %w", err)
	}
	return nil
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session: delete: %w", err)
	}
	return nil
}

// GC implements Store: it removes session files whose expiry passed, and
// files it cannot read an expiry from (or temporary files a crash left) once
// they are older than lifetime.
func (s *FileStore) GC(ctx context.Context, lifetime time.Duration) error {
	d, err := s.dir()
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session: gc: %w", err)
	}
	now := time.Now()
	var errs []error
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("session: gc: %w", err)
		}
		name := e.Name()
		session := strings.HasPrefix(name, filePrefix)
		if !e.Type().IsRegular() || !session && !strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		p := filepath.Join(d, name)
		expired := false
		if exp, ok := readExpiry(p); session && ok {
			expired = !now.Before(exp)
		} else if fi, err := e.Info(); err == nil {
			expired = now.Sub(fi.ModTime()) > lifetime
		}
		if !expired {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("session: gc: %w", err)
	}
	return nil
}

// readExpiry reads only the first line of a session file: GC visits every
// file and must not read whole sessions to do it.
func readExpiry(p string) (time.Time, bool) {
	f, err := os.Open(p)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	var b [headerMax]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return time.Time{}, false
	}
	exp, _, ok := parseFile(b[:n])
	return exp, ok
}
