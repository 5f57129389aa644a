package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildCodeFirst builds test/codefirst, a program in its own module as a
// user's would be, with the given variant, to out.
func buildCodeFirst(t *testing.T, out, variant string) {
	t.Helper()
	args := []string{"build", "-o", out, "-ldflags", "-X main.variant=" + variant}
	if raceBinaries {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, ".")...)
	cmd.Dir = "codefirst"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", cmd.Args[1:], err, b)
	}
}

// apiAnswer is what the program's api worker answers.
type apiAnswer struct {
	PID     int    `json:"pid"`
	Variant string `json:"variant"`
}

func getAPI(t *testing.T, addr string) apiAnswer {
	t.Helper()
	r := curl(t, "http://"+addr+"/")
	var a apiAnswer
	if err := json.Unmarshal([]byte(r.out), &a); err != nil {
		t.Fatalf("api answered %q: %v", r.out, err)
	}
	return a
}

// A code-first program (workers built in Go, then workerman.RunAll) is a
// daemon with Workerman's command line: start -d with no [[worker]] in its
// file (which sets the global keys and adds a worker of a registered
// handler), the pid file set in code, status, connections, reload running
// the rebuilt binary, a reload refused with the reason when the new binary
// no longer defines a worker, and Worker::stopAll() from a request.
func TestCodeFirstProgram(t *testing.T) {
	bin := filepath.Join(tempDir(t), "codefirst")
	buildCodeFirst(t, bin, "a")
	d := newDaemon(t, bin)
	apiPort, echoPort, filePort, httpsPort := freePort(t), freePort(t), freePort(t), freePort(t)
	f := newTLSFiles(t, d.dir)
	d.env = append(d.env,
		"CODEFIRST_HTTPS=https://127.0.0.1:"+strconv.Itoa(httpsPort),
		"CODEFIRST_TLS_CERT="+f.siteCert, "CODEFIRST_TLS_KEY="+f.siteKey,
		"CODEFIRST_API=http://127.0.0.1:"+strconv.Itoa(apiPort),
		"CODEFIRST_ECHO=text://127.0.0.1:"+strconv.Itoa(echoPort),
		"CODEFIRST_PID="+d.pidFile)
	delete(d.globals, "pid_file") // set in code (workerman.Daemon)
	d.writeConfig(worker("from-file", "text://127.0.0.1:"+strconv.Itoa(filePort), "echo", 1))

	// check lists the program's workers beside the file's.
	r := d.mustRun(0, "check")
	for _, want := range []string{"pid_file: " + d.pidFile, "api ", "(code)", "from-file"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("check does not show %q:\n%s", want, r.out)
		}
	}
	d.start()
	st := d.waitReady("api", 2)
	d.waitReady("echo", 1)
	d.waitReady("from-file", 1)
	d.waitReady("secure", 2)
	// The worker without an address runs its process and its timer.
	if ps := d.waitReady("ticker", 1).procs("ticker"); len(ps) != 1 || ps[0].Timers != 1 || ps[0].Listen != "" {
		t.Errorf("the worker without an address: %+v, want one process with its timer and no listen address", ps)
	}
	if st.Master.Program != "codefirst" {
		t.Errorf("status names the program %q, want codefirst", st.Master.Program)
	}
	if w := st.worker("api"); w.Count != 2 {
		t.Errorf("api worker in status: %+v, want count 2", w)
	}
	apiAddr := "127.0.0.1:" + strconv.Itoa(apiPort)
	before := map[int]bool{}
	for _, p := range st.procs("api") {
		before[p.PID] = true
	}
	if a := getAPI(t, apiAddr); !before[a.PID] || a.Variant != "a" {
		t.Errorf("api answered from pid %d variant %q; api processes %v", a.PID, a.Variant, before)
	}
	// The program's callbacks run in the children: the echo worker greets.
	c := dial(t, "127.0.0.1:"+strconv.Itoa(echoPort))
	if line, err := c.r.ReadString('\n'); err != nil || line != "hello from a\n" {
		t.Errorf("echo worker greeted %q, %v", line, err)
	}
	c.mustEcho(t, "ping")
	dial(t, "127.0.0.1:"+strconv.Itoa(filePort)).mustEcho(t, "from the file's worker")
	// A worker with the program's own *tls.Config, served by 2 processes
	// that share session tickets (the master's keys).
	httpsAddr := "127.0.0.1:" + strconv.Itoa(httpsPort)
	if r := curl(t, "--cacert", f.caFile, "--resolve", "site.test:"+strconv.Itoa(httpsPort)+":127.0.0.1",
		"https://site.test:"+strconv.Itoa(httpsPort)+"/"); r.out != helloBody {
		t.Errorf("https worker defined in code answered %q", r.out)
	}
	sess := filepath.Join(d.dir, "sess.pem")
	sClientHTTP(t, f, httpsAddr, "-tls1_3", "-sess_out", sess)
	for i := range 12 {
		if r := sClientHTTP(t, f, httpsAddr, "-tls1_3", "-sess_in", sess); !strings.Contains(r.out, "Reused") {
			t.Fatalf("resumption %d on the code worker's TLS config failed:\n%s", i, r.out)
		}
	}
	accepting := 0
	for _, p := range d.mustStatus().procs("secure") {
		if p.Accepted > 0 {
			accepting++
		}
	}
	if accepting < 2 {
		t.Errorf("the resumed sessions all went to one process: resumption across processes is not shown")
	}
	if r := d.mustRun(0, "connections"); !strings.Contains(r.out, " echo ") || !strings.Contains(r.out, " from-file ") {
		t.Errorf("connections does not list the echo and from-file clients: %s", r)
	}
	c.Close()

	// reload runs the binary as it is now: the same program, new processes.
	d.mustRun(0, "reload")
	st = d.waitReady("api", 2)
	for _, p := range st.procs("api") {
		if before[p.PID] {
			t.Errorf("api process %d survived the reload", p.PID)
		}
	}
	getAPI(t, apiAddr)

	// A release that no longer defines a worker cannot be reloaded into:
	// the master binds what the program declared when it started.
	buildCodeFirst(t, bin, "b")
	r = d.run("reload")
	if r.code == 0 || !strings.Contains(r.err, `"echo"`) || !strings.Contains(r.err, "restart") {
		t.Errorf("reload into a binary without the echo worker: want a failure naming it and restart, got %s", r)
	}
	if a := getAPI(t, apiAddr); a.PID == 0 {
		t.Errorf("api stopped answering after the refused reload")
	}

	// Worker::stopAll() from a request stops the whole daemon.
	master := d.pidFromFile()
	r2 := curl(t, "http://"+apiAddr+"/stop")
	if r2.out != "stopping" {
		t.Errorf("/stop answered %q", r2.out)
	}
	waitGone(t, slow(15*time.Second), "the master after StopAll", master)
	if fileExists(d.pidFile) {
		if b, _ := os.ReadFile(d.pidFile); strings.TrimSpace(string(b)) != "" {
			t.Errorf("pid file still holds %q after StopAll", b)
		}
	}
	if r := d.run("status"); r.code != 3 {
		t.Errorf("status after StopAll: %s", r)
	}
}

// Problems in workers defined in code are reported like a file's, at
// RunAll[i] in "(program)", and a file's pid_file overrides the one set in
// code.
func TestCodeFirstCheck(t *testing.T) {
	bin := filepath.Join(tempDir(t), "codefirst")
	buildCodeFirst(t, bin, "a")
	d := newDaemon(t, bin)
	port := freePort(t)
	d.env = append(d.env,
		"CODEFIRST_API=http://127.0.0.1:"+strconv.Itoa(port),
		"CODEFIRST_ECHO=text://127.0.0.1:"+strconv.Itoa(port), // taken by api
		"CODEFIRST_PID="+filepath.Join(d.dir, "from-code.pid"))
	d.writeConfig()
	r := d.mustRun(2, "check")
	want := fmt.Sprintf(`(program): RunAll[2].listen: 127.0.0.1:%d is already taken by RunAll[0] "api"`, port) // api, ticker, echo
	if !strings.Contains(r.err, want) {
		t.Errorf("check with two code workers on one port: want %q in\n%s", want, r)
	}
	d.env[len(d.env)-2] = "CODEFIRST_ECHO=text://127.0.0.1:" + strconv.Itoa(freePort(t))
	if r := d.mustRun(0, "check"); !strings.Contains(r.out, "pid_file: "+d.pidFile) {
		t.Errorf("the file's pid_file does not override the program's:\n%s", r.out)
	}
}

// workerman.Daemon's FileMonitor: a code-first program that watches a
// directory of templates reloads when one changes (here under start -d,
// with InDaemon), and not for another extension.
func TestCodeFirstFileMonitor(t *testing.T) {
	bin := filepath.Join(tempDir(t), "codefirst")
	buildCodeFirst(t, bin, "a")
	d := newDaemon(t, bin)
	watch := filepath.Join(d.dir, "templates")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	d.env = append(d.env,
		"CODEFIRST_API=http://127.0.0.1:"+strconv.Itoa(freePort(t)),
		"CODEFIRST_ECHO=text://127.0.0.1:"+strconv.Itoa(freePort(t)),
		"CODEFIRST_PID="+d.pidFile, "CODEFIRST_WATCH="+watch)
	delete(d.globals, "pid_file")
	d.writeConfig()
	d.start()
	pids := func() []int {
		var ps []int
		for _, p := range d.waitReady("api", 2).procs("api") {
			ps = append(ps, p.PID)
		}
		return ps
	}
	before := pids()
	writeFile(t, filepath.Join(watch, "notes.txt"), "not a template")
	time.Sleep(slow(time.Second))
	if now := pids(); fmt.Sprint(now) != fmt.Sprint(before) {
		t.Fatalf("a .txt file reloaded: %v → %v", before, now)
	}
	writeFile(t, filepath.Join(watch, "page.tmpl"), "<p>{{.}}</p>")
	waitFor(t, slow(5*time.Second), "a reload after the template changed", func() (bool, string) {
		now := pids()
		for _, p := range now {
			for _, b := range before {
				if p == b {
					return false, fmt.Sprint(now)
				}
			}
		}
		return true, ""
	})
}
