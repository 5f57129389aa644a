// Package depcheck has no code of its own. Its test holds the rules for
// which of workermand's packages may import which, and checks them against
// the import graph the go command reports; ARCHITECTURE.md describes the
// layering and defers to the test's table.
package depcheck
