package http

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrRange reports an Offset or Length outside the file.
var ErrRange = errors.New("range outside the file")

// ErrNotRegular reports a path that is not a regular file (a directory, a
// device, a FIFO, a socket). It wraps fs.ErrNotExist, so a server answers
// 404 for it as for a missing file.
var ErrNotRegular = fmt.Errorf("not a regular file: %w", fs.ErrNotExist)

// ErrIsDirectory reports a directory where a file was expected; it wraps
// ErrNotRegular (and so fs.ErrNotExist).
var ErrIsDirectory = fmt.Errorf("is a directory: %w", ErrNotRegular)

// Open opens Path when File is nil, checks that it is a regular file, fills
// ModTime and Size, and checks Offset and Length against Size (ErrRange).
// On an error after opening, the file is closed and File is nil again
// (Size is kept, for a 416's Content-Range).
//
// The file is opened non-blocking so that a FIFO planted where a file was
// expected cannot stall the event loop; regular files ignore the flag.
func (f *fileBody) Open() error {
	if f.File == nil {
		file, err := os.OpenFile(f.Path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
		if err != nil {
			return fmt.Errorf("open file body: %w", err)
		}
		f.File = file
	}
	if err := f.stat(); err != nil {
		f.Close()
		return err
	}
	if f.Offset < 0 || f.Length < 0 || f.Offset > f.Size || f.Length > f.Size-f.Offset {
		f.Close()
		return fmt.Errorf("file body %s: offset %d length %d of %d bytes: %w", f.name(), f.Offset, f.Length, f.Size, ErrRange)
	}
	return nil
}

func (f *fileBody) stat() error {
	fi, err := f.File.Stat()
	if err != nil {
		return fmt.Errorf("file body: %w", err)
	}
	switch {
	case fi.IsDir():
		return fmt.Errorf("file body %s: %w", f.name(), ErrIsDirectory)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("file body %s: %w", f.name(), ErrNotRegular)
	}
	f.ModTime, f.Size = fi.ModTime(), fi.Size()
	return nil
}

func (f *fileBody) name() string {
	if f.Path != "" {
		return f.Path
	}
	return f.File.Name()
}

// ContentLength is the number of bytes to send: Length, or from Offset to
// the end when Length is 0. Valid after Open.
func (f *fileBody) ContentLength() int64 {
	if f.Length > 0 {
		return f.Length
	}
	return f.Size - f.Offset
}

// Close closes File (if open) and sets it to nil. The encoder calls it once
// the body is sent or the connection is gone.
func (f *fileBody) Close() error {
	if f.File == nil {
		return nil
	}
	err := f.File.Close()
	f.File = nil
	return err
}

// readAll reads the selected bytes into memory and closes the file.
func (f *fileBody) readAll() ([]byte, error) {
	defer f.Close()
	b := make([]byte, f.ContentLength())
	if _, err := f.File.ReadAt(b, f.Offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", f.name(), err)
	} else if err != nil {
		// The file shrank since the stat: what was promised cannot be
		// sent.
		return nil, fmt.Errorf("read %s: file shrank: %w", f.name(), io.ErrUnexpectedEOF)
	}
	return b, nil
}
