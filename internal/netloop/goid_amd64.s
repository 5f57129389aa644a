#include "textflag.h"

// func currentG() uintptr
// Returns the address of the running goroutine's g, which the Go runtime
// keeps in thread-local storage on amd64.
TEXT ·currentG(SB),NOSPLIT,$0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
