package test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// dialSmallWindow connects with a 4 KiB receive buffer, so that what the
// client leaves unread stays queued in the server instead of filling the
// kernel's buffers on both sides.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSendTimeout: clients that ask a static worker for a 20 MiB file, or
// flood an echo worker, and never read are closed once send_timeout passes
// without their output moving, so they stop holding descriptors and
// connection slots; a client that reads the same file slowly but steadily,
// for several times send_timeout, gets all of it.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	const (
		fileSize = 20 << 20
		stalled  = 5
		flooders = 2
	)
	root := tempDir(t)
	f, err := os.Create(filepath.Join(root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(fileSize), f.Close()); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, stockBin)
	d.writeConfig(
		worker("files", "http://127.0.0.1:0", "static", 1, `send_timeout = "1s"`,
			"[worker.options]", "root = "+strconv.Quote(root)),
		worker("echo", "text://127.0.0.1:0", "echo", 1, `send_timeout = "1s"`),
	)
	d.start()
	d.waitReady("files", 1)
	st := d.waitReady("echo", 1)
	filesAddr, echoAddr := st.addr("files"), st.addr("echo")
	const get = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"

	var stalledConns []net.Conn
	for range stalled {
		c := dialSmallWindow(t, filesAddr)
		if _, err := io.WriteString(c, get); err != nil {
			t.Fatal(err)
		}
		stalledConns = append(stalledConns, c)
	}
	// Flooders send 16 MiB of lines and never read the echoes.
	var floods sync.WaitGroup
	t.Cleanup(floods.Wait) // registered first, so it runs after the conns close
	for range flooders {
		c := dialSmallWindow(t, echoAddr)
		cl := &client{Conn: c, r: bufio.NewReader(c)}
		_ = c.SetDeadline(time.Now().Add(slow(10 * time.Second)))
		cl.mustEcho(t, "accepted") // so the server has it before we count
		_ = c.SetDeadline(time.Time{})
		floods.Go(func() {
			line := []byte(strings.Repeat("f", 1023) + "\n")
			for range 16 << 10 {
				if _, err := c.Write(line); err != nil {
					return // closed by the server, or by the cleanup
				}
			}
		})
	}

	// The steady reader: 32 KiB every 5 ms, 20 MiB in over 3 s.
	var slowOpen atomic.Int32
	slowOpen.Store(1)
	type result struct {
		body int
		err  error
	}
	slowDone := make(chan result, 1)
	sc, err := net.DialTimeout("tcp", filesAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer func() {
			sc.Close()
			slowOpen.Store(0)
		}()
		if _, err := io.WriteString(sc, get); err != nil {
			slowDone <- result{err: err}
			return
		}
		r := bufio.NewReaderSize(sc, 32<<10)
		length := -1
		for {
			_ = sc.SetReadDeadline(time.Now().Add(slow(10 * time.Second)))
			line, err := r.ReadString('\n')
			if err != nil {
				slowDone <- result{err: fmt.Errorf("response head: %w", err)}
				return
			}
			if line == "\r\n" {
				break
			}
			if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if length != fileSize {
			slowDone <- result{err: fmt.Errorf("Content-Length %d, want %d", length, fileSize)}
			return
		}
		buf := make([]byte, 32<<10)
		body := 0
		for body < length {
			_ = sc.SetReadDeadline(time.Now().Add(slow(10 * time.Second)))
			n, err := r.Read(buf[:min(len(buf), length-body)])
			body += n
			if err != nil {
				slowDone <- result{body, err}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		slowDone <- result{body: body}
	}()

	// Every request was read (total_request only grows, so this cannot
	// miss them), then the stalled connections must go.
	waitFor(t, slow(10*time.Second), "the static worker to read every request", func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		p := s.procs("files")
		if len(p) != 1 {
			return false, fmt.Sprintf("%+v", p)
		}
		return p[0].TotalRequest >= stalled+1, fmt.Sprintf("total_request %d", p[0].TotalRequest)
	})
	took := waitFor(t, slow(20*time.Second), "the stalled connections to be closed", func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		fp, ep := s.procs("files"), s.procs("echo")
		if len(fp) != 1 || len(ep) != 1 {
			return false, fmt.Sprintf("%+v", s.Processes)
		}
		open := int(slowOpen.Load())
		return fp[0].Connections == open && ep[0].Connections == 0,
			fmt.Sprintf("files: %d connections (the steady reader's open: %d), echo: %d", fp[0].Connections, open, ep[0].Connections)
	})
	s := d.mustStatus()
	if got := s.procs("files")[0].SendTimeouts + s.procs("echo")[0].SendTimeouts; got < stalled+flooders {
		t.Errorf("status counts %d send timeouts, want at least %d", got, stalled+flooders)
	}
	t.Logf("stalled connections closed within %s of their requests being read", took)

	select {
	case r := <-slowDone:
		if r.err != nil || r.body != fileSize {
			t.Fatalf("steady reader: %d of %d bytes, %v", r.body, fileSize, r.err)
		}
	case <-time.After(slow(60 * time.Second)):
		t.Fatalf("steady reader did not finish within %s", slow(60*time.Second))
	}

	// A stalled client that reads now finds what the kernel had taken,
	// then the end: not the file.
	for i, c := range stalledConns {
		_ = c.SetReadDeadline(time.Now().Add(slow(10 * time.Second)))
		n, err := io.Copy(io.Discard, c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("stalled client %d: read %d bytes, then %v; want the end of the stream", i, n, err)
		} else if n >= fileSize {
			t.Errorf("stalled client %d got the whole file (%d bytes)", i, n)
		}
	}
}

// slowhttptest's slow-read attack (-X: a tiny receive window, 32 bytes read
// a second) against a static worker: every attacking connection is closed
// by send_timeout and counted, while a normal client is still served. They
// used to stay open for ever, holding descriptors and connection slots.
func TestSlowReadAttack(t *testing.T) {
	t.Parallel()
	tool := needTool(t, "slowhttptest")
	const attackers = 50
	root := tempDir(t)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, stockBin)
	d.writeConfig(worker("files", "http://127.0.0.1:0", "static", 1, `send_timeout = "2s"`,
		"[worker.options]", "root = "+strconv.Quote(root)))
	d.start()
	st := d.waitReady("files", 1)
	url := "http://" + st.addr("files") + "/big.bin"
	attack := exec.Command(tool, "-X", "-c", strconv.Itoa(attackers), "-r", strconv.Itoa(attackers),
		"-l", "60", "-n", "1", "-z", "32", "-w", "512", "-y", "1024", "-k", "3", "-p", "3", "-u", url)
	if err := attack.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = attack.Process.Kill() // the one we started, by pid
		_ = attack.Wait()
	}()
	waitFor(t, slow(20*time.Second), "the attack's connections to be opened", func() (bool, string) {
		p := d.mustStatus().procs("files")
		return len(p) == 1 && p[0].Connections >= attackers/2, fmt.Sprintf("%+v", p)
	})
	// A normal client gets the whole file meanwhile.
	if r := curl(t, "-o", os.DevNull, "-w", "%{size_download}", url); r.out != strconv.Itoa(2<<20) {
		t.Errorf("a normal client during the attack downloaded %q bytes", r.out)
	}
	took := waitFor(t, slow(20*time.Second), "every attacking connection closed by send_timeout", func() (bool, string) {
		p := d.mustStatus().procs("files")
		return len(p) == 1 && p[0].Connections == 0 && p[0].SendTimeouts >= attackers, fmt.Sprintf("%+v", p)
	})
	t.Logf("%d slow readers closed within %s", attackers, took.Round(100*time.Millisecond))
}
