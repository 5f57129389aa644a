package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/workermand/workermand/bench/internal/runner"
)

// metrics lists the table rows in order; better says which way is good.
var metrics = []struct {
	key, label, better, format string
}{
	{rrRate, "reqresp msgs/s", "higher", "%.0f"},
	{rrP50, "reqresp p50 latency (µs)", "lower", "%.1f"},
	{rrP99, "reqresp p99 latency (µs)", "lower", "%.1f"},
	{rrCPU, "reqresp server CPU (µs/msg)", "lower", "%.3f"},
	{rrBusy, "reqresp server CPU busy (%)", "", "%.0f"},
	{rrLoad, "reqresp generator CPU busy (%)", "", "%.0f"},
	{plRate, "pipelined msgs/s", "higher", "%.0f"},
	{plCPU, "pipelined server CPU (µs/msg)", "lower", "%.3f"},
	{plBusy, "pipelined server CPU busy (%)", "", "%.0f"},
	{plLoad, "pipelined generator CPU busy (%)", "", "%.0f"},
	{rssBase, "RSS after start (MiB)", "lower", "%.1f"},
	{idleBPC, "RSS per idle conn (bytes)", "lower", "%.0f"},
}

// report renders the medians as a Markdown table, one row per metric, one
// column per server, and one ratio column per other server against the
// first (workermand by default).
func (b *bench) report() string {
	var sb strings.Builder
	base := b.servers[0]
	fmt.Fprintf(&sb, "\nMedians of %d round(s); %s windows after %s warm-up; %d conns, pipelined batch %d; %d idle conns.\n",
		b.rounds, b.duration, b.warmup, b.conns, b.batch, b.idleConns)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, load generator to CPU %d; %s on %s, %s.\n\n",
		b.serverCPU, b.loadCPU, runtime.Version(), runner.CPUModel(), time.Now().UTC().Format("2006-01-02 15:04 MST"))

	head := []string{"metric", "better"}
	head = append(head, b.servers...)
	for _, s := range b.servers[1:] {
		head = append(head, s+"/"+base)
	}
	runner.Row(&sb, head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
		if i >= 2 {
			sep[i] = "---:"
		}
	}
	runner.Row(&sb, sep)

	for _, m := range metrics {
		cells := []string{m.label, m.better}
		med := map[string]float64{}
		for _, s := range b.servers {
			med[s] = runner.Median(b.samples[s][m.key])
			cells = append(cells, runner.Num(m.format, med[s]))
		}
		for _, s := range b.servers[1:] {
			if m.better == "" { // a ratio of utilisations means nothing
				cells = append(cells, "")
				continue
			}
			cells = append(cells, runner.Num("%.2f", med[s]/med[base]))
		}
		runner.Row(&sb, cells)
	}
	cells := []string{"failed measurements", "lower"}
	for _, s := range b.servers {
		cells = append(cells, fmt.Sprint(b.errors[s]))
	}
	for range b.servers[1:] {
		cells = append(cells, "")
	}
	runner.Row(&sb, cells)
	return sb.String()
}
