//go:build amd64

package master

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// siginfoPID reads si_pid, which follows si_signo, si_errno, si_code and
// padding in the kernel's siginfo for SIGCHLD.
func siginfoPID(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Pointer(uintptr(unsafe.Pointer(info)) + 16)))
}
