package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// ok reports whether every measure ran, no request failed, and every
// reload round replaced the children under the same master.
func (b *bench) ok() bool {
	if len(b.failures) > 0 {
		return false
	}
	for g := range b.churn {
		if b.churn[g].failed() > 0 || b.replaced[g] != b.churnRounds[g] || b.kept[g] != b.churnRounds[g] {
			return false
		}
	}
	return true
}

// report renders the results as a Markdown table: metric, value, note.
func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s, %d round(s), each measure on a fresh daemon; %s, %d CPUs, %s.\n\n",
		version(b.workermand), b.rounds, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	sb.WriteString("| metric | value | note |\n| --- | ---: | --- |\n")
	row := func(metric, value, note string) { fmt.Fprintf(&sb, "| %s | %s | %s |\n", metric, value, note) }

	for _, n := range []int{1, 4} {
		row(fmt.Sprintf("`start -d` → ready, %d %s", n, plural(n, "child", "children")),
			msCell(runner.Median(b.startReady[n])),
			fmt.Sprintf("until the port answered; median of %d, range %s; the command itself returned after %s",
				len(b.startReady[n]), rangeOf(b.startReady[n]), msCell(runner.Median(b.startCLI[n]))))
	}
	row("`reload`, 4 children", msCell(runner.Median(b.reload)),
		fmt.Sprintf("until the command returned (new generation serving); median of %d, range %s", len(b.reload), rangeOf(b.reload)))

	for g := range b.churn {
		c := &b.churn[g]
		row(fmt.Sprintf("failed requests during %d × `%s` under load", reloadsUnderLoad, reloadCmd[g]),
			fmt.Sprintf("%d of %d", c.failed(), c.total()),
			fmt.Sprintf("%d round(s); %d goroutines, new connection per request, ≤ %d req/s, %.1f s of load before and after; "+
				"dial %d, reset %d, short read %d, timeout %d, mismatch %d, other %d; target 0",
				b.churnRounds[g], churnWorkers, churnRate, churnLead.Seconds(), c.dial.Load(), c.reset.Load(), c.short.Load(),
				c.timeout.Load(), c.mismatch.Load(), c.other.Load()))
		row(fmt.Sprintf("… child pids replaced / master pid kept (`%s`)", reloadCmd[g]),
			fmt.Sprintf("%s / %s", yes(b.replaced[g], b.churnRounds[g]), yes(b.kept[g], b.churnRounds[g])),
			fmt.Sprintf("rounds: %d / %d of %d", b.replaced[g], b.kept[g], b.churnRounds[g]))
	}

	row(fmt.Sprintf("`status --json`, %d children", statusChildren), msCell(runner.Median(b.status)),
		fmt.Sprintf("CLI round trip (exec included); median of %d calls, max %s; %d busy answers; Workerman needs ~1 s",
			len(b.status), msCell(maxOf(b.status)), b.busy))

	for _, rp := range []bool{false, true} {
		name := "shared listener"
		if rp {
			name = "reuse_port"
		}
		row(fmt.Sprintf("spread of %d conns over %d children, %s", spreadConns, spreadChildren, name),
			spreadValue(b.spread[rp]), spreadNote(b.spread[rp]))
	}
	if len(b.failures) > 0 {
		row("failed measurements", fmt.Sprint(len(b.failures)), mdEscape(errorsSummary(b.failures, 3)))
	} else {
		row("failed measurements", "0", "")
	}
	return sb.String()
}

// spreadStats returns max/min and the population standard deviation of
// one round's per-child counts.
func spreadStats(counts []int) (ratio, stddev float64) {
	lo, hi := slices.Min(counts), slices.Max(counts)
	var sum, sq float64
	for _, n := range counts {
		sum += float64(n)
	}
	mean := sum / float64(len(counts))
	for _, n := range counts {
		sq += (float64(n) - mean) * (float64(n) - mean)
	}
	ratio = math.Inf(1)
	if lo > 0 {
		ratio = float64(hi) / float64(lo)
	}
	return ratio, math.Sqrt(sq / float64(len(counts)))
}

// spreadValue is the median over rounds of max/min.
func spreadValue(rounds [][]int) string {
	var ratios []float64
	for _, c := range rounds {
		r, _ := spreadStats(c)
		ratios = append(ratios, r)
	}
	m := runner.Median(ratios)
	switch {
	case len(ratios) == 0:
		return "n/a"
	case math.IsInf(m, 1):
		return "max/min ∞"
	}
	return fmt.Sprintf("max/min %.2f", m)
}

// spreadNote shows the counts of the median round and the worst ratio.
func spreadNote(rounds [][]int) string {
	if len(rounds) == 0 {
		return ""
	}
	byRatio := slices.Clone(rounds)
	slices.SortStableFunc(byRatio, func(a, b []int) int {
		ra, _ := spreadStats(a)
		rb, _ := spreadStats(b)
		return cmpFloat(ra, rb)
	})
	mid := byRatio[(len(byRatio)-1)/2]
	_, sd := spreadStats(mid)
	worst, _ := spreadStats(byRatio[len(byRatio)-1])
	return fmt.Sprintf("median round: %s per child (min %d, max %d, stddev %.1f); worst of %d rounds max/min %.2f",
		joinInts(mid), slices.Min(mid), slices.Max(mid), sd, len(rounds), worst)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, "/")
}

func msCell(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", v)
}

func rangeOf(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f–%.1f ms", slices.Min(xs), slices.Max(xs))
}

// maxOf returns the largest of xs, or NaN if there are none.
func maxOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return slices.Max(xs)
}

func yes(n, of int) string {
	if of > 0 && n == of {
		return "yes"
	}
	return "no"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
