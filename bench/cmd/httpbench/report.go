package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/workermand/workermand/bench/internal/runner"
)

// metric is one row of a test's block in the table.
type metric struct {
	label, better, format string
	get                   func(sample) float64
}

var (
	mRate    = metric{"req/s", "higher", "%.0f", func(s sample) float64 { return s.reqPerSec }}
	mMiB     = metric{"MiB/s (headers included)", "higher", "%.1f", func(s sample) float64 { return s.mibPerSec }}
	mP50     = metric{"p50 latency (µs)", "lower", "%.0f", func(s sample) float64 { return s.p50 }}
	mP99     = metric{"p99 latency (µs)", "lower", "%.0f", func(s sample) float64 { return s.p99 }}
	mCPU     = metric{"**server CPU (µs/req)**", "lower", "%.3f", func(s sample) float64 { return s.cpuPerReq }}
	mBusy    = metric{"server CPU busy (%)", "", "%.0f", func(s sample) float64 { return s.serverBusy }}
	mWrkBusy = metric{"wrk CPU busy (%)", "", "%.0f", func(s sample) float64 { return s.wrkBusy }}
	mOthers  = metric{"other CPU on both cores (%)", "", "%.0f", func(s sample) float64 { return s.others }}
)

// rows says what each test shows. Under pipelining wrk times only the
// first response of a batch, so its latencies are left out there.
func (t test) rows(depth int) (title string, ms []metric) {
	switch {
	case t.pipelined:
		return fmt.Sprintf("pipelined, c%d, %d req/write", t.conns, depth), []metric{mRate, mCPU, mBusy, mWrkBusy, mOthers}
	case t.static:
		return fmt.Sprintf("static %s, c%d", strings.TrimPrefix(t.path, "/"), t.conns), []metric{mRate, mMiB, mCPU, mBusy, mWrkBusy, mOthers}
	}
	return fmt.Sprintf("keep-alive, c%d", t.conns), []metric{mRate, mP50, mP99, mCPU, mBusy, mWrkBusy, mOthers}
}

// report renders the medians as a Markdown table: a block of rows per
// test, a column per server, and a ratio column per other server against
// the first.
func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nMedians of %d round(s); wrk -t1, %s runs after a %s warm-up run; pipelined depth %d.\n",
		b.Rounds, b.Duration, b.Warmup, b.depth)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, wrk to CPU %d; %s; %s.\n",
		b.ServerCPU, b.LoadCPU, b.toolVersions(), runner.Machine())
	for _, n := range b.notes {
		fmt.Fprintf(&sb, "Note: %s.\n", n)
	}
	sb.WriteString("\n")

	tab := runner.NewRatioTable(&sb, []string{"test", "metric", "better"}, b.Servers)
	failed := map[string]int{}
	for _, t := range tests {
		if !slices.Contains(b.tests, t.name) {
			continue
		}
		title, ms := t.rows(b.depth)
		for i, m := range ms {
			lead := []string{"", m.label, m.better}
			if i == 0 {
				lead[0] = title
			}
			var texts []string
			var med []float64
			for _, s := range b.Servers {
				text, v := b.value(t, s, m)
				texts = append(texts, text)
				med = append(med, v)
			}
			if m.better == "" { // a ratio of utilisations means nothing
				med = nil
			}
			tab.Row(lead, texts, med)
		}
		for _, s := range b.Servers {
			if c := b.cells[t.name][s]; c != nil {
				failed[s] += c.failed
			}
		}
	}
	var counts []string
	for _, s := range b.Servers {
		counts = append(counts, fmt.Sprint(failed[s]))
	}
	tab.Row([]string{"all", "failed measurements", "lower"}, counts, nil)
	return sb.String()
}

// value is the cell text and the median (NaN when there is none) of one
// server's metric in one test: "–" when the server does not take part,
// FAIL when any round failed, since a median over the rounds that worked
// would hide the failure.
func (b *bench) value(t test, server string, m metric) (string, float64) {
	if !serves(server, t.static) {
		return "–", math.NaN()
	}
	c := b.cells[t.name][server]
	if c == nil {
		return "n/a", math.NaN()
	}
	if c.failed > 0 {
		return fmt.Sprintf("FAIL (%d/%d)", c.failed, c.failed+len(c.samples)), math.NaN()
	}
	xs := make([]float64, len(c.samples))
	for i, s := range c.samples {
		xs[i] = m.get(s)
	}
	v := runner.Median(xs)
	return runner.Num(m.format, v), v
}

func (b *bench) toolVersions() string {
	parts := []string{"wrk " + wrkVersion(b.wrk)}
	if b.ng != nil {
		parts = append(parts, b.ng.Version)
	}
	return strings.Join(parts, ", ")
}

// wrkVersion is the second word of the first line wrk -v prints
// ("wrk debian/4.1.0-3+b2 [epoll] ...").
func wrkVersion(path string) string {
	out, _ := execOutput(path, "-v")
	f := strings.Fields(out)
	if len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return "(unknown version)"
}
