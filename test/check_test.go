package test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// configCase copies testdata/name into a fresh directory and returns that
// directory; commands run there with -c name.
func configCase(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := tempDir(t)
	writeFile(t, filepath.Join(dir, name), string(data))
	return dir
}

// golden compares got (with dir replaced by $DIR) to testdata/name, or
// rewrites the file with -update.
func golden(t *testing.T, name, dir, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, dir, "$DIR")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// dirFiles lists dir's entries.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A bad config file: check exits 2 and lists every problem with its file,
// line and key (golden files); start, in the foreground and with -d, exits 2
// with the same message and starts nothing (no pid, lock or socket file).
// The custom binary's handlers take part in the validation.
func TestBadConfigFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/bad-*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad-*.toml: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".toml"), func(t *testing.T) {
			t.Parallel()
			dir := configCase(t, name)
			r := runBin(t, crashBin, dir, nil, time.Minute, "check", "-c", name)
			if r.code != 2 {
				t.Errorf("check: %s; want exit 2", r)
			}
			if r.out != "" {
				t.Errorf("check printed to stdout: %q", r.out)
			}
			golden(t, strings.TrimSuffix(name, ".toml")+".golden", dir, r.err)
			for _, args := range [][]string{{"start"}, {"start", "-d"}} {
				s := runBin(t, crashBin, dir, nil, time.Minute, append(args, "-c", name)...)
				if s.code != 2 || s.err != r.err {
					t.Errorf("%s\nwant exit 2 and the same message as check", s)
				}
			}
			if got := dirFiles(t, dir); !slices.Equal(got, []string{name}) {
				t.Errorf("files after the refused starts: %v, want only %s", got, name)
			}
		})
	}
}

// A good file: check exits 0 and prints the summary of its workers.
func TestCheckGoodConfig(t *testing.T) {
	t.Parallel()
	dir := configCase(t, "ok-custom.toml")
	r := runBin(t, crashBin, dir, nil, time.Minute, "check", "-c", "ok-custom.toml")
	if r.code != 0 || r.err != "" {
		t.Fatalf("check: %s; want exit 0 and nothing on stderr", r)
	}
	golden(t, "ok-custom.golden", dir, r.out)
	if got := dirFiles(t, dir); !slices.Equal(got, []string{"ok-custom.toml"}) {
		t.Errorf("files after check: %v; check must not create anything", got)
	}
	// The stock binary does not know crashd's handlers.
	r = runBin(t, stockBin, dir, nil, time.Minute, "check", "-c", "ok-custom.toml")
	if r.code != 2 || !strings.Contains(r.err, `worker[0].handler: unknown handler "crash" (registered: `) || !strings.Contains(r.err, " echo,") {
		t.Errorf("stock binary: %s; want exit 2 naming the unknown handler", r)
	}
}
