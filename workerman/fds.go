package workerman

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
)

// fdDir is /proc/self/fd, opened once: a process out of descriptors
// (EMFILE), the very case its count is for, could not open it when asked.
// It is read with getdents into one buffer, so counting tens of thousands
// of descriptors makes no garbage.
var fdDir struct {
	once sync.Once
	mu   sync.Mutex
	fd   int
	buf  []byte
}

// openFiles counts this process's open descriptors, or returns 0 when
// /proc is not there to say.
func openFiles() int {
	fdDir.once.Do(func() {
		fdDir.fd = -1
		if fd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			fdDir.fd = fd
			fdDir.buf = make([]byte, 32<<10)
		}
	})
	if fdDir.fd < 0 {
		return 0
	}
	fdDir.mu.Lock()
	defer fdDir.mu.Unlock()
	if _, err := unix.Seek(fdDir.fd, 0, 0); err != nil {
		return 0
	}
	n := 0
	for {
		got, err := unix.Getdents(fdDir.fd, fdDir.buf)
		if err != nil {
			return 0
		}
		if got <= 0 {
			break
		}
		// struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2),
		// d_type (1), d_name.
		for b := fdDir.buf[:got]; len(b) >= 20; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen == 0 || reclen > len(b) {
				break
			}
			if name := b[19]; name != '.' { // not "." or ".."
				n++
			}
			b = b[reclen:]
		}
	}
	// The directory's own descriptor is not one of the process's.
	return n - 1
}

// fdLimit is the soft open-files limit, 0 if it cannot be read.
func fdLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur > 1<<31 {
		return 1 << 31
	}
	return int(lim.Cur)
}
