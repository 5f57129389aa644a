// Package proc reads per-process CPU time and resident memory from /proc.
//
// The benchmark measures a server by pid, but a server may fork workers
// (Workerman's master/worker model does), so every reading covers the
// whole process tree rooted at that pid.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClockTicks returns the kernel's USER_HZ (utime/stime unit), falling back
// to 100, the value on every mainstream Linux build.
func ClockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// stat holds the fields of /proc/<pid>/stat that we use.
type stat struct {
	ppid         int
	utime, stime int64 // clock ticks, all threads of the process
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// comm (field 2) may contain spaces and parentheses; fields after the
	// last ')' are unambiguous. They start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("parse stat of %d: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return stat{}, fmt.Errorf("parse stat of %d: %d fields", pid, len(f))
	}
	var s stat
	// f[0] is field 3, so field N is f[N-3]: ppid=4, utime=14, stime=15.
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return stat{}, fmt.Errorf("parse ppid of %d: %w", pid, err)
	}
	if s.utime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return stat{}, fmt.Errorf("parse utime of %d: %w", pid, err)
	}
	if s.stime, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return stat{}, fmt.Errorf("parse stime of %d: %w", pid, err)
	}
	return s, nil
}

// Tree returns root and all its live descendants.
func Tree(root int) ([]int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	children := map[int][]int{}
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		s, err := readStat(pid)
		if err != nil {
			continue // exited while we were scanning
		}
		children[s.ppid] = append(children[s.ppid], pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", root)); err != nil {
		return nil, fmt.Errorf("process %d: %w", root, err)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree, nil
}

// CPUTicks returns utime+stime summed over the process tree of root.
func CPUTicks(root int) (int64, error) {
	pids, err := Tree(root)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, pid := range pids {
		s, err := readStat(pid)
		if err != nil {
			if pid == root {
				return 0, err
			}
			continue
		}
		total += s.utime + s.stime
	}
	return total, nil
}

// RSS returns VmRSS in bytes summed over the process tree of root.
func RSS(root int) (int64, error) {
	pids, err := Tree(root)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, pid := range pids {
		kb, err := StatusKiB(pid, "VmRSS")
		if err != nil {
			if pid == root {
				return 0, err
			}
			continue
		}
		total += kb * 1024
	}
	return total, nil
}

// StatusKiB returns one "<field>: N kB" value of /proc/<pid>/status, such
// as VmRSS, RssAnon or VmHWM, in KiB.
func StatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s of %d: %w", field, pid, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s for %d (zombie?)", field, pid)
}

// Ticks returns utime+stime of one process (all its threads).
func Ticks(pid int) (int64, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return s.utime + s.stime, nil
}

var userHZ = sync.OnceValue(ClockTicks)

// CPUTime is Ticks as a duration: one process's user + system time, for
// the drivers that read a server's CPU before and after a window.
func CPUTime(pid int) (time.Duration, error) {
	t, err := Ticks(pid)
	return time.Duration(t) * time.Second / time.Duration(userHZ()), err
}
