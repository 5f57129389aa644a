//go:build !linux

package linuxonly

// The name is the message: the compiler prints it as "undefined: ...".
var _ = workermand_runs_on_Linux_only__its_event_loop_is_epoll
