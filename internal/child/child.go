// Package child is the child side of the master–child channel: the
// handshake that delivers a child its worker, listening socket and log file,
// and the loop that turns the master's commands into calls on the running
// process. What runs is decided by the public layer (package workerman),
// which implements Controller.
package child

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/workermand/workermand/internal/ipc"
)

// EnvMarker is set in a child's environment by the master; the CLI runs the
// child entry point when it sees it.
const EnvMarker = ipc.ChildEnvMarker

// setupTimeout bounds the wait for the master's setup message.
const setupTimeout = 30 * time.Second

// Session is a child's connection to its master.
type Session struct {
	ch    *ipc.Channel
	Setup *ipc.Setup
	// Listener is the inherited listening socket; LogFile the master's log
	// file, or nil when logs go to stderr. The child owns both.
	Listener *os.File
	LogFile  *os.File
	// Files are the files the master opened for the worker (its access
	// log), by path as the config names them. The child owns them.
	Files map[string]*os.File
}

// Start opens the channel on ipc.ChildFD, says hello and waits for the
// setup. It removes the child marker from the environment so that programs
// the handlers run do not believe they are children.
func Start() (*Session, error) {
	os.Unsetenv(EnvMarker)
	f := os.NewFile(ipc.ChildFD, "ipc")
	if f == nil {
		return nil, errors.New("child: no channel on fd 3")
	}
	ch, err := ipc.FromFile(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("child: %w", err)
	}
	if err := ch.Send(&ipc.Message{Type: ipc.TypeHello, Version: ipc.Version, PID: os.Getpid()}); err != nil {
		ch.Close()
		return nil, fmt.Errorf("child: hello: %w", err)
	}
	m, files, err := ch.Recv(time.Now().Add(setupTimeout))
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("child: waiting for setup: %w", err)
	}
	if m.Type != ipc.TypeSetup || m.Setup == nil || len(files) == 0 && !m.Setup.NoListener {
		for _, f := range files {
			f.Close()
		}
		ch.Close()
		return nil, fmt.Errorf("child: expected a setup with a listening socket, got %q with %d descriptors", m.Type, len(files))
	}
	s := &Session{ch: ch, Setup: m.Setup}
	if !m.Setup.NoListener {
		s.Listener, files = files[0], files[1:]
	}
	if m.Setup.HasLogFile && len(files) > 0 {
		s.LogFile, files = files[0], files[1:]
	}
	s.Files = namedFiles(m.Setup.Files, files)
	return s, nil
}

// namedFiles pairs the last len(names) of files with names and closes any
// file left without one.
func namedFiles(names []string, files []*os.File) map[string]*os.File {
	if len(files) < len(names) {
		names = names[:len(files)]
	}
	named := map[string]*os.File{}
	for i, f := range files[len(files)-len(names):] {
		named[names[i]] = f
	}
	for _, f := range files[:len(files)-len(names)] {
		f.Close()
	}
	return named
}

// Ready tells the master the child serves.
func (s *Session) Ready() error {
	return s.ch.Send(&ipc.Message{Type: ipc.TypeReady, PID: os.Getpid()})
}

// Retire asks the master to replace this child: it starts a new child for
// the slot and then stops this one gracefully.
func (s *Session) Retire() error {
	return s.ch.Send(&ipc.Message{Type: ipc.TypeRetire, PID: os.Getpid()})
}

// StopAll asks the master to stop the daemon: every child, then itself,
// letting connections finish when graceful.
func (s *Session) StopAll(graceful bool) error {
	mode := ipc.StopNow
	if graceful {
		mode = ipc.StopDrain
	}
	return s.ch.Send(&ipc.Message{Type: ipc.TypeStopAll, PID: os.Getpid(), Mode: mode})
}

// HandOver sends connections to the master for the replacement of this
// child, in batches that fit a message. The caller keeps and closes the
// files afterwards.
func (s *Session) HandOver(worker string, hs []ipc.Handover, fds []int) error {
	for len(hs) > 0 {
		n := min(len(hs), ipc.MaxHandoversPerMessage)
		if err := s.ch.Send(&ipc.Message{Type: ipc.TypeHandover, Worker: worker, Handovers: hs[:n]}, fds[:n]...); err != nil {
			return err
		}
		hs, fds = hs[n:], fds[n:]
	}
	return nil
}

// Fail tells the master why the child could not start.
func (s *Session) Fail(err error) {
	_ = s.ch.Send(&ipc.Message{Type: ipc.TypeSetupFailed, PID: os.Getpid(), Error: err.Error()})
}

// Controller is what the command loop drives. Status and Connections run
// on goroutines of their own and must return within half a second whatever
// the event loop does: Status then answers with the last counters it has.
type Controller interface {
	// Stop stops the worker in an ipc.Stop* mode within timeout; with
	// handOver, connections that can move are sent to the replacement
	// (Session.HandOver) instead of being closed.
	Stop(mode string, timeout time.Duration, handOver bool)
	// Adopt takes over connections handed over by a retiring child; it owns
	// the files.
	Adopt(hs []ipc.Handover, files []*os.File)
	Reload()
	// Reopen switches to a new main log file (nil: unchanged) and to the
	// worker's files reopened by the master, by path.
	Reopen(log *os.File, files map[string]*os.File)
	Status() ipc.ProcessStatus
	Connections() []ipc.ConnectionRow
	// SetTicketKeys replaces the TLS session-ticket keys after the
	// master rotated them (the first ones come in Setup.TicketKeys).
	SetTicketKeys(keys []ipc.TicketKey)
}

// Serve runs the command loop until the channel closes. A closed channel
// means the master is gone (even killed with SIGKILL): the child stops at
// once rather than keep a port as an orphan.
func (s *Session) Serve(c Controller) {
	for {
		m, files, err := s.ch.Recv(time.Time{})
		if err != nil {
			c.Stop(ipc.StopNow, 0, false)
			return
		}
		switch m.Type {
		case ipc.TypeStop:
			c.Stop(m.Mode, time.Duration(m.TimeoutMS)*time.Millisecond, m.HandOver)
		case ipc.TypeHandover:
			if len(files) == len(m.Handovers) {
				c.Adopt(m.Handovers, files)
				files = nil
			}
		case ipc.TypeReload:
			c.Reload()
		case ipc.TypeTicketKeys:
			c.SetTicketKeys(m.TicketKeys)
		case ipc.TypeReopen:
			// A descriptor before the named ones is the main log (a
			// master of the version before named files sends only that).
			var log *os.File
			if len(files) > len(m.Files) {
				log, files = files[0], files[1:]
			}
			c.Reopen(log, namedFiles(m.Files, files))
			files = nil
			if m.ID != 0 { // the master waits until every child switched
				_ = s.ch.Send(&ipc.Message{Type: ipc.TypeReopen, ID: m.ID})
			}
		// Answered off this goroutine: a stop or a hand-over must not wait
		// behind a status request to a stuck loop.
		case ipc.TypeStatus:
			go func(id uint64) {
				st := c.Status()
				_ = s.ch.Send(&ipc.Message{Type: ipc.TypeStatus, ID: id, Status: &st})
			}(m.ID)
		case ipc.TypeConnections:
			go func(id uint64) {
				rows := c.Connections()
				_ = s.ch.Send(&ipc.Message{Type: ipc.TypeConnections, ID: id, Connections: rows})
			}(m.ID)
		case ipc.TypeDebugStack, ipc.TypeDebugProfile:
			go s.debug(c, m)
		}
		for _, f := range files {
			f.Close()
		}
	}
}

// Close closes the channel.
func (s *Session) Close() { s.ch.Close() }
