package runner

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RatioTable writes a Markdown table of servers side by side: some leading
// columns (the metric, and which way is better), a column per server, and
// then, per server but the first, its ratio to the first.
type RatioTable struct {
	sb      *strings.Builder
	servers []string
}

// NewRatioTable writes the head of the table: the leading columns' names,
// the servers, and "server/first" per ratio column. The leading columns
// are left-aligned, the figures right-aligned.
func NewRatioTable(sb *strings.Builder, lead []string, servers []string) *RatioTable {
	head := append(append([]string(nil), lead...), servers...)
	for _, s := range servers[1:] {
		head = append(head, s+"/"+servers[0])
	}
	Row(sb, head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
		if i >= len(lead) {
			sep[i] = "---:"
		}
	}
	Row(sb, sep)
	return &RatioTable{sb: sb, servers: servers}
}

// Row writes one row: lead, a text per server, and the ratios of values
// (one per server, NaN where there is none) to the first's; with values
// nil the ratio cells stay empty, as for a utilisation, whose ratio means
// nothing.
func (t *RatioTable) Row(lead, texts []string, values []float64) {
	cells := append(append([]string(nil), lead...), texts...)
	for i := range t.servers[1:] {
		if values == nil {
			cells = append(cells, "")
			continue
		}
		cells = append(cells, Num("%.2f", values[i+1]/values[0]))
	}
	Row(t.sb, cells)
}

// Metric is a row of a Comparison's table; Better ("higher", "lower" or
// empty for a utilisation) says which way is good.
type Metric struct{ Key, Label, Better, Format string }

// Comparison holds what a run comparing servers measured: for every
// server and metric, one value per round, and the measurements that
// failed.
type Comparison struct {
	Servers []string
	samples map[string]map[string][]float64 // server → metric → one value per round
	failed  map[string]int                  // server → failed measurements (any I/O error or mismatch fails one)
}

func NewComparison(servers []string) *Comparison {
	c := &Comparison{Servers: servers, samples: map[string]map[string][]float64{}, failed: map[string]int{}}
	for _, s := range servers {
		c.samples[s] = map[string][]float64{}
	}
	return c
}

// Add records one round's value of a metric.
func (c *Comparison) Add(server, metric string, v float64) {
	c.samples[server][metric] = append(c.samples[server][metric], v)
}

// Fail records a failed measurement of server (for drivers that run
// their rounds themselves).
func (c *Comparison) Fail(server string) { c.failed[server]++ }

// Run runs each test against every server, round after round, then
// writes report's table (see Report) and says whether every measurement
// passed. See RunGroups.
func (c *Comparison) Run(ctx context.Context, rounds int, out string, report func() string,
	tests ...func(context.Context, string) error) (ok bool, err error) {
	return RunGroups(ctx, rounds, out, report, Group{c, tests})
}

// Group is a Comparison with the tests run against its servers each round.
type Group struct {
	*Comparison
	Tests []func(context.Context, string) error
}

// RunGroups runs every group's tests against its servers, round after
// round, then writes report's table and says whether every measurement
// passed. Servers alternate within a round so slow drifts in machine noise
// (thermal, other tenants) hit all of them alike. A test's error fails
// that measurement and is logged; only an interruption ends the run early.
func RunGroups(ctx context.Context, rounds int, out string, report func() string, groups ...Group) (ok bool, err error) {
	start := time.Now()
	for r := 1; r <= rounds; r++ {
		for _, g := range groups {
			for _, test := range g.Tests {
				for _, s := range g.Servers {
					if ctx.Err() != nil {
						return false, fmt.Errorf("interrupted: %w", ctx.Err())
					}
					if err := test(ctx, s); err != nil {
						g.failed[s]++
						Logf("round %d/%d %s: FAILED: %v", r, rounds, s, err)
					}
				}
			}
		}
	}
	Logf("done in %s", time.Since(start).Round(time.Second))
	if err := Report(report(), out); err != nil {
		return false, err
	}
	for _, g := range groups {
		if g.Failed() {
			return false, nil
		}
	}
	return true, nil
}

// Median is the median of a server's values of a metric (NaN if none).
func (c *Comparison) Median(server, metric string) float64 {
	return Median(c.samples[server][metric])
}

// Failed reports whether any measurement failed.
func (c *Comparison) Failed() bool {
	for _, n := range c.failed {
		if n > 0 {
			return true
		}
	}
	return false
}

// Table writes a table of the medians: a row per metric, and the failed
// measurements.
func (c *Comparison) Table(sb *strings.Builder, metrics []Metric) {
	t := NewRatioTable(sb, []string{"metric", "better"}, c.Servers)
	for _, m := range metrics {
		var texts []string
		var med []float64
		for _, s := range c.Servers {
			v := Median(c.samples[s][m.Key])
			med = append(med, v)
			texts = append(texts, Num(m.Format, v))
		}
		if m.Better == "" {
			med = nil
		}
		t.Row([]string{m.Label, m.Better}, texts, med)
	}
	var failed []string
	for _, s := range c.Servers {
		failed = append(failed, strconv.Itoa(c.failed[s]))
	}
	t.Row([]string{"failed measurements", "lower"}, failed, nil)
}
