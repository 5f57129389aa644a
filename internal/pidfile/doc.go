// Package pidfile decides whether a workermand master is running by an flock
// on "<pid_file>.lock", not by kill(pid, 0) on the number in the pid file.
//
// # Model
//
// The master holds an exclusive flock(2) on the lock file for its whole life.
// The kernel drops the lock when the last descriptor of the open file
// description that took it is closed, so it also goes away when the master is
// killed with SIGKILL: a pid file left behind by a crash is stale by
// definition and Acquire replaces it. The pid file itself only tells the
// control verbs (stop, status, reload) which process to address; it is never
// trusted for liveness, so a recycled pid cannot make a dead master look alive.
//
// flock locks belong to the open file description, not to the process:
//
//   - A second Acquire in the same process opens the lock file again, which
//     creates a new open file description, and therefore fails with
//     ErrRunning just as it would in another process. There is no
//     re-entrancy.
//   - A descriptor duplicated into a child (exec.Cmd.ExtraFiles) shares the
//     lock. The start -d launcher Acquires, hands Lock.File to the daemon it
//     re-executes, and calls Lock.Close (not Release: unlocking any duplicate
//     unlocks them all). The daemon calls Adopt on the inherited descriptor.
//     Between the two there is never a moment without the lock.
//
// # Probes
//
// Running tests the lock with a shared, non-blocking flock that it drops at
// once. For that instant an Acquire would see the file locked, so Acquire,
// when its exclusive attempt fails, checks whether the holder is exclusive (a
// shared attempt fails too: a master runs) or only shared (a probe, or another
// Acquire in the middle of the same check) and then retries for a short
// while. Of N concurrent Acquires exactly one wins; the others get
// ErrRunning.
//
// # Files
//
// The lock file is created 0644 so that an unprivileged status can open it
// read-only and probe it. It is never removed: unlinking a lock file races
// with a process that opened it just before the unlink and then locks an inode
// nobody else can find any more, which lets two masters run. An empty file in
// the run directory is the price of not having that race. Acquire also
// re-checks after locking that the path still names the inode it locked, which
// closes the window between its open and its flock. Nothing can protect a lock
// file deleted by hand while a master runs: the next Acquire creates a new
// one and wins. Do not clean the run directory under a running master.
//
// The pid file is written atomically (a temporary file in the same directory,
// then rename) so readers never see it empty or half written.
package pidfile
