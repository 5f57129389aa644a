// Command mangen writes workermand's man pages (one per command) from its
// cobra command tree, for make install. It is a program of its own so that
// the man page renderer is not linked into the daemon.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/workermand/workermand/internal/cliapp"
)

func main() {
	dir := flag.String("o", "man", "directory to write the pages to")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "mangen: %v\n", err)
		os.Exit(1)
	}
	root := cliapp.NewRootCommand(cliapp.Program{}, io.Discard, io.Discard)
	root.DisableAutoGenTag = true // the pages stay the same from build to build
	header := &doc.GenManHeader{Title: "WORKERMAND", Section: "1", Source: "workermand " + cliapp.Version, Manual: "workermand manual"}
	// The commit's date, when make passes it, so the pages of one commit
	// are the same bytes whenever they are built.
	if t, err := time.Parse(time.RFC3339, cliapp.BuildDate); err == nil {
		header.Date = &t
	}
	if err := doc.GenManTree(root, header, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "mangen: %v\n", err)
		os.Exit(1)
	}
}
