package child

import (
	"os"
	"testing"
	"time"

	"github.com/workermand/workermand/internal/ipc"
)

// keysController records what Serve hands it.
type keysController struct {
	keys    chan []ipc.TicketKey
	stopped chan struct{}
}

func (c *keysController) Stop(string, time.Duration, bool)     { close(c.stopped) }
func (c *keysController) Adopt([]ipc.Handover, []*os.File)     {}
func (c *keysController) Reload()                              {}
func (c *keysController) Reopen(*os.File, map[string]*os.File) {}
func (c *keysController) Status() ipc.ProcessStatus            { return ipc.ProcessStatus{} }
func (c *keysController) Connections() []ipc.ConnectionRow     { return nil }
func (c *keysController) SetTicketKeys(keys []ipc.TicketKey)   { c.keys <- keys }

// The master's rotated session-ticket keys reach the controller.
func TestServeHandsOverRotatedTicketKeys(t *testing.T) {
	master, ch := channelPair(t)
	c := &keysController{keys: make(chan []ipc.TicketKey, 1), stopped: make(chan struct{})}
	s := &Session{ch: ch}
	defer s.Close()
	go s.Serve(c)

	want := []ipc.TicketKey{{1}, {2}}
	if err := master.Send(&ipc.Message{Type: ipc.TypeTicketKeys, TicketKeys: want}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-c.keys:
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("the controller got %d keys, not the ones sent", len(got))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the keys never reached the controller")
	}
	master.Close()
	select {
	case <-c.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop when the channel closed")
	}
}

// channelPair is the master's end of a channel and the child's, as a
// Session holds it; both close when the test ends.
func channelPair(t *testing.T) (master, child *ipc.Channel) {
	t.Helper()
	master, theirs, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	child, err = ipc.FromFile(theirs)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	return master, child
}
