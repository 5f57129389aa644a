package http

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"strings"
)

// UploadedFile is a file of a multipart/form-data request, written to a
// temp file that is removed once the response was sent (Workerman's
// $request->file() entry). Move or copy the file to keep it.
type UploadedFile struct {
	// Field is the form field's name.
	Field string
	// Name is the file name the client sent, without any directory part
	// (both "/" and "\" separate directories, since some clients send
	// Windows paths) and without control characters; never "." or "..".
	// It is the client's word: do not trust it as a path.
	Name string
	// Type is the part's Content-Type as sent ("" when absent).
	Type string
	// Path is the temp file: in Options.UploadDir (os.TempDir() when
	// empty), named workermand-upload-*, mode 0600.
	Path string
	// Size is the file's length in bytes.
	Size int64
}

// File is the first file uploaded in the form field name, or nil (also when
// the multipart body could not be read: see Files).
func (r *Request) File(name string) *UploadedFile {
	files, _ := r.Files()
	if fs := files[name]; len(fs) > 0 {
		return fs[0]
	}
	return nil
}

// Files are the files of a multipart/form-data body by form field, in the
// order sent; nil for other bodies. File parts with an empty file name (a
// form's file input left empty) are skipped. The error says why a multipart
// body could not be read: malformed, no boundary, more files than
// Options.MaxUploadFiles, a file larger than Options.MaxUploadFileSize, or a
// temp file that could not be written. Then no file is returned, the temp
// files already written are removed, and PostForm is empty too.
//
// The map is the request's own, made once.
func (r *Request) Files() (map[string][]*UploadedFile, error) {
	r.parseBody()
	return r.lazy.files, r.lazy.bodyErr
}

// parseMultipart reads a multipart/form-data body: fields into a form,
// files streamed into temp files.
func (r *Request) parseMultipart(boundary string) (url.Values, map[string][]*UploadedFile, error) {
	fail := func(err error) (url.Values, map[string][]*UploadedFile, error) {
		r.lazy.removeTemp()
		return nil, nil, fmt.Errorf("multipart body: %w", err)
	}
	if boundary == "" {
		return fail(errors.New("no boundary parameter in Content-Type"))
	}
	opts := r.options()
	maxFiles := opts.MaxUploadFiles
	if maxFiles <= 0 { // Options not passed through WithDefaults
		maxFiles = DefaultMaxUploadFiles
	}
	form := url.Values{}
	var files map[string][]*UploadedFile
	count := 0
	mr := multipart.NewReader(bytes.NewReader(r.body), boundary)
	for {
		// Raw: the bytes as sent, as Workerman stores them (NextPart would
		// decode a quoted-printable Content-Transfer-Encoding).
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		name, filename, isFile := reqFormDisposition(p.Header.Get("Content-Disposition"))
		if name == "" {
			continue // nothing to file it under
		}
		if !isFile {
			v, err := io.ReadAll(p)
			if err != nil {
				return fail(fmt.Errorf("field %q: %w", name, err))
			}
			form[name] = append(form[name], string(v))
			continue
		}
		filename = reqSanitizeFileName(filename)
		if filename == "" {
			continue
		}
		if count++; count > maxFiles {
			return fail(fmt.Errorf("more than %d files (max_upload_files)", maxFiles))
		}
		f, err := r.saveUpload(p, opts)
		if err != nil {
			return fail(fmt.Errorf("file %q of field %q: %w", filename, name, err))
		}
		f.Field, f.Name, f.Type = name, filename, p.Header.Get("Content-Type")
		if files == nil {
			files = map[string][]*UploadedFile{}
		}
		files[name] = append(files[name], f)
	}
	return form, files, nil
}

// saveUpload streams a file part into a new temp file, recorded for removal
// before anything is written to it.
func (r *Request) saveUpload(p io.Reader, opts *Options) (*UploadedFile, error) {
	dir := opts.UploadDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "workermand-upload-*")
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	r.lazy.tmp = append(r.lazy.tmp, f.Name())
	limit := opts.MaxUploadFileSize
	src := p
	if limit > 0 {
		src = io.LimitReader(p, limit+1)
	}
	n, err := io.Copy(f, src)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if limit > 0 && n > limit {
		return nil, fmt.Errorf("larger than %d bytes (max_upload_file_size)", limit)
	}
	return &UploadedFile{Path: f.Name(), Size: n}, nil
}

// reqFormDisposition reads a part's Content-Disposition: its field name, its
// file name, and whether it is a file part at all (it has a filename
// parameter, even an empty one). mime decodes RFC 2231 filename* too.
func reqFormDisposition(cd string) (name, filename string, isFile bool) {
	typ, params, err := mime.ParseMediaType(cd)
	if err != nil || typ != "form-data" {
		return "", "", false
	}
	filename, isFile = params["filename"]
	return params["name"], filename, isFile
}

// reqSanitizeFileName keeps the last path element of a client's file name
// and drops control characters.
func reqSanitizeFileName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, s)
	if s == "." || s == ".." {
		return ""
	}
	return s
}
