package master

import (
	"golang.org/x/sys/unix"

	"go.uber.org/zap"
)

// As PID 1 (a container's init) the master inherits every orphan of its
// namespace and must reap them, or they stay zombies. It must not reap its
// own children, though: os/exec's Wait does that, and a stolen exit status
// would leave Wait failing. waitid with WNOWAIT looks at a zombie without
// reaping it, so the master reaps only pids that are not its children.

// reapOrphans reaps every waitable process that is not a child the master
// knows. It stops at the first known child in the queue; the next SIGCHLD or
// tick comes back for the rest.
func (m *Master) reapOrphans() {
	known := map[int]bool{}
	for _, p := range m.children() {
		known[p.pid] = true
	}
	for range 1024 {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		pid := siginfoPID(&info)
		if err != nil || pid == 0 || known[pid] {
			return
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			return
		}
		m.log.Debug("reaped an orphan", zap.Int("orphan_pid", pid))
	}
}
