package cliapp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/workermand/workermand/internal/config"
	"github.com/workermand/workermand/internal/master"
	"github.com/workermand/workermand/internal/pidfile"
)

// controlTimeout bounds one control request; a reload can take a while.
const controlTimeout = 5 * time.Minute

// control sends one request over the master's control socket.
func control(path string, req master.Request) (*master.Response, error) {
	var resp master.Response
	if err := controlInto(path, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// controlInto sends req and decodes the master's answer into resp, which
// may hold only the fields a command needs (see rawConnections).
func controlInto(path string, req master.Request, resp any) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(controlTimeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := json.Unmarshal(line, resp); err != nil {
		return fmt.Errorf("control socket: bad reply: %w", err)
	}
	return nil
}

// rawConnections is the master's answer to connections with the rows
// left as JSON: `connections --json` indents them as they came instead of
// decoding and encoding 100,000 rows again, which took it longer than the
// master's own answer.
type rawConnections struct {
	Connections json.RawMessage `json:"connections"`
}

func newStatusCommand(st streams) *cobra.Command {
	var asJSON, live bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the master and every process (-d: refresh every second)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.locateMaster()
			if err != nil {
				return err
			}
			for {
				rep, err := fetchStatus(cfg)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(st.out)
					enc.SetIndent("", "  ")
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else {
					if live {
						fmt.Fprint(st.out, "\033[H\033[2J")
					}
					printStatus(st.out, rep)
				}
				if !live {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (schema 1)")
	cmd.Flags().BoolVarP(&live, "d", "d", false, "refresh every second until interrupted")
	return cmd
}

func fetchStatus(cfg *config.Config) (*master.StatusReport, error) {
	if _, running, _ := pidfile.Running(cfg.PidFile); !running {
		return nil, &exitError{code: exitNotRunning, err: fmt.Errorf("%s is not running (config %s)", daemonName(cfg), configName(cfg))}
	}
	resp, err := control(cfg.ControlSocket, master.Request{Cmd: "status"})
	if err != nil {
		return nil, &exitError{code: exitFailed, err: err}
	}
	if !resp.OK || resp.Status == nil {
		return nil, &exitError{code: exitFailed, err: errors.New(resp.Error)}
	}
	return resp.Status, nil
}

// processState is the status column: idle, or busy with how long its loop
// has not answered (its counters are from before).
func processState(p master.ProcessStatus) string {
	if p.Status == "busy" && p.BusyForS > 0 {
		return fmt.Sprintf("busy %.1fs", p.BusyForS)
	}
	return p.Status
}

// printStatus lays the report out as Workerman's status does: a global
// section, one line per process, a summary line.
func printStatus(w io.Writer, rep *master.StatusReport) {
	line := strings.Repeat("-", 47)
	fmt.Fprintf(w, "%s WORKERMAND STATUS %s\n", line, line)
	fmt.Fprintf(w, "workermand version: %-12s master pid: %d\n", rep.Master.Version, rep.Master.PID)
	fmt.Fprintf(w, "start time: %s   run %s\n", rep.Master.StartTime, formatUptime(rep.Master.UptimeS))
	fmt.Fprintf(w, "load average: %s   config: %s\n", loadAverage(), configLabel(rep.Master))
	fmt.Fprintf(w, "%d workers       %d processes\n", len(rep.Workers), len(rep.Processes))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "worker_name\texit_status\texit_count")
	for _, wk := range rep.Workers {
		if len(wk.ExitStatus) == 0 {
			fmt.Fprintf(tw, "%s\t-\t0\n", wk.Name)
			continue
		}
		keys := make([]string, 0, len(wk.ExitStatus))
		for k := range wk.ExitStatus {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", wk.Name, k, wk.ExitStatus[k])
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%s PROCESS STATUS %s\n", line, line+"---")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pid\tmemory\tlistening\tworker_name\tid\tgen\tconnections\tsend_fail\ttimers\ttotal_request\tqps\tstatus")
	var sum master.ProcessStatus
	var qps float64
	for _, p := range rep.Processes {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t[%s]\n", p.PID, formatBytes(p.MemoryBytes), emptyAs(p.Listen, "(none)"),
			p.Worker, p.ID, p.Generation, p.Connections, p.SendFail, p.Timers, p.TotalRequest, p.QPS, processState(p))
		sum.MemoryBytes += p.MemoryBytes
		sum.Connections += p.Connections
		sum.SendFail += p.SendFail
		sum.Timers += p.Timers
		sum.TotalRequest += p.TotalRequest
		qps += p.QPS
	}
	fmt.Fprintf(tw, "Summary\t%s\t-\t-\t-\t-\t%d\t%d\t%d\t%d\t%.0f\t[Summary]\n", formatBytes(sum.MemoryBytes),
		sum.Connections, sum.SendFail, sum.Timers, sum.TotalRequest, qps)
	tw.Flush()
	printTLSStatus(w, rep.Processes)
	printDescriptorStatus(w, rep.Processes)
	fmt.Fprintln(w, strings.Repeat("-", 112))
}

// printDescriptorStatus adds the processes short of descriptors: at 90% of
// their open-files limit, not accepting now, or having paused or refused
// connections since they started. A process at its limit leaves new
// clients waiting in the backlog; this is where an operator sees why.
func printDescriptorStatus(w io.Writer, ps []master.ProcessStatus) {
	var tw *tabwriter.Writer
	for _, p := range ps {
		c := p.Counters
		near := c.FDLimit > 0 && c.OpenFiles*10 >= c.FDLimit*9
		if !near && c.AcceptPaused == 0 && c.AcceptPauses == 0 && c.Rejected == 0 {
			continue
		}
		if tw == nil {
			fmt.Fprintf(w, "%s DESCRIPTORS %s\n", strings.Repeat("-", 50), strings.Repeat("-", 49))
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "pid\tworker_name\tid\topen_files\tfd_limit\taccepting\taccept_pauses\trejected")
		}
		accepting := "yes"
		if c.AcceptPaused > 0 {
			accepting = "PAUSED (out of descriptors)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\t%d\t%d\n", p.PID, p.Worker, p.ID,
			c.OpenFiles, c.FDLimit, accepting, c.AcceptPauses, c.Rejected)
	}
	if tw != nil {
		tw.Flush()
	}
}

// printTLSStatus adds the TLS counters of the processes that had any TLS
// traffic: failed handshakes are counted rather than logged, so this is
// where an operator sees them.
func printTLSStatus(w io.Writer, ps []master.ProcessStatus) {
	var tw *tabwriter.Writer
	for _, p := range ps {
		c := p.Counters
		if c.TLSHandshakes+c.TLSHandshakeErrors+c.TLSHandshakeTimeouts+c.TLSPlaintextRejected == 0 && c.TLSHandshakesInFlight == 0 {
			continue
		}
		if tw == nil {
			fmt.Fprintf(w, "%s TLS STATUS %s\n", strings.Repeat("-", 50), strings.Repeat("-", 50))
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "pid\tworker_name\tid\thandshakes\terrors\ttimeouts\tplaintext_rejected\tin_flight")
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", p.PID, p.Worker, p.ID,
			c.TLSHandshakes, c.TLSHandshakeErrors, c.TLSHandshakeTimeouts, c.TLSPlaintextRejected, c.TLSHandshakesInFlight)
	}
	if tw != nil {
		tw.Flush()
	}
}

func emptyAs(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func formatUptime(s float64) string {
	d := time.Duration(s) * time.Second
	return fmt.Sprintf("%d days %d hours %d minutes", int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60)
}

func formatBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%dK", b>>10)
	}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "-"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "-"
	}
	return strings.Join(f[:3], ", ")
}

func newConnectionsCommand(st streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "List every connection of every process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := st.locateMaster()
			if err != nil {
				return err
			}
			if asJSON {
				var raw rawConnections
				if err := commandMasterInto(cfg, master.Request{Cmd: "connections"}, &raw); err != nil {
					return err
				}
				if len(raw.Connections) == 0 || string(raw.Connections) == "null" {
					raw.Connections = json.RawMessage("[]")
				}
				var out bytes.Buffer
				if err := json.Indent(&out, raw.Connections, "", "  "); err != nil {
					return fmt.Errorf("control socket: bad reply: %w", err)
				}
				out.WriteByte('\n')
				_, err := out.WriteTo(st.out)
				return err
			}
			resp, err := commandMaster(cfg, master.Request{Cmd: "connections"})
			if err != nil {
				return err
			}
			rows := resp.Connections
			tw := tabwriter.NewWriter(st.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "pid\tworker\tworker_id\tid\ttransport\tprotocol\tlocal\tremote\trecv_q\tsend_q\tbytes_read\tbytes_written\tstatus")
			for _, r := range rows {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.PID, r.Worker, r.WorkerID, r.ID,
					r.Transport, r.Protocol, r.Local, r.Remote, r.RecvQ, r.SendQ, r.BytesRead, r.BytesWritten, r.Status)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the connections as JSON")
	return cmd
}

// configLabel is how status names the master's config.
func configLabel(m master.MasterStatus) string {
	switch {
	case m.Config != "":
		return m.Config
	case m.Program != "":
		return "none (" + m.Program + ")"
	}
	return "embedded default"
}
