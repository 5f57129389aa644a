package main

import (
	"fmt"
	"strings"

	"github.com/workermand/workermand/bench/internal/runner"
)

// metrics lists the table rows in order; better says which way is good.
var metrics = []runner.Metric{
	{Key: rrRate, Label: "reqresp msgs/s", Better: "higher", Format: "%.0f"},
	{Key: rrP50, Label: "reqresp p50 latency (µs)", Better: "lower", Format: "%.1f"},
	{Key: rrP99, Label: "reqresp p99 latency (µs)", Better: "lower", Format: "%.1f"},
	{Key: rrCPU, Label: "reqresp server CPU (µs/msg)", Better: "lower", Format: "%.3f"},
	{Key: rrBusy, Label: "reqresp server CPU busy (%)", Format: "%.0f"},
	{Key: rrLoad, Label: "reqresp generator CPU busy (%)", Format: "%.0f"},
	{Key: plRate, Label: "pipelined msgs/s", Better: "higher", Format: "%.0f"},
	{Key: plCPU, Label: "pipelined server CPU (µs/msg)", Better: "lower", Format: "%.3f"},
	{Key: plBusy, Label: "pipelined server CPU busy (%)", Format: "%.0f"},
	{Key: plLoad, Label: "pipelined generator CPU busy (%)", Format: "%.0f"},
	{Key: rssBase, Label: "RSS after start (MiB)", Better: "lower", Format: "%.1f"},
	{Key: idleBPC, Label: "RSS per idle conn (bytes)", Better: "lower", Format: "%.0f"},
}

// report renders the medians as a Markdown table, one row per metric, one
// column per server, and one ratio column per other server against the
// first (workermand by default).
func (b *bench) report() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nMedians of %d round(s); %s windows after %s warm-up; %d conns, pipelined batch %d; %d idle conns.\n",
		b.Rounds, b.Duration, b.Warmup, b.conns, b.batch, b.idleConns)
	fmt.Fprintf(&sb, "Server pinned to CPU %d, load generator to CPU %d; %s.\n\n", b.ServerCPU, b.LoadCPU, runner.Machine())
	b.Table(&sb, metrics)
	return sb.String()
}
