package master

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/sockets"
)

// Sockets passed for another process (LISTEN_PID names the launcher that
// exec'd us through a shell, say) are not ours to take, and the variables
// are cleared either way, so that no child believes them.
func TestSocketActivationOnlyForThisPID(t *testing.T) {
	for _, pid := range []int{os.Getpid() + 1, 0} {
		t.Setenv("LISTEN_PID", strconv.Itoa(pid))
		t.Setenv("LISTEN_FDS", "2")
		t.Setenv("LISTEN_FDNAMES", "a:b")
		in, err := SocketActivation()
		if err != nil || in != nil {
			t.Errorf("LISTEN_PID=%d: %+v, %v; want nothing taken", pid, in, err)
		}
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			if v, ok := os.LookupEnv(k); ok {
				t.Errorf("%s=%q left in the environment", k, v)
			}
		}
	}
}

// A worker gets the inherited socket of its kind bound to its address:
// not a UDP socket on the same port, not a TCP one on another port, not
// a Unix socket at another path.
func TestInheritAddrMatches(t *testing.T) {
	tcp, err := sockets.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tcp)
	ap := withBoundPort(netip.MustParseAddrPort("127.0.0.1:0"), tcp)
	udp, err := sockets.ListenUDP(ap, sockets.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(udp)
	path := filepath.Join(t.TempDir(), "s.sock")
	ux, f, err := sockets.ListenUnix(path, sockets.UnixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Remove()
	defer unix.Close(ux)
	other := netip.AddrPortFrom(ap.Addr(), ap.Port()+1)
	for _, c := range []struct {
		name string
		addr inheritAddr
		fd   int
		kind string
		want bool
	}{
		{"tcp on its address", inheritAddr{ap: ap}, tcp, "tcp", true},
		{"tcp as udp", inheritAddr{ap: ap}, tcp, "udp", false},
		{"udp on its address", inheritAddr{ap: ap}, udp, "udp", true},
		{"udp as tcp", inheritAddr{ap: ap}, udp, "tcp", false},
		{"another port", inheritAddr{ap: other}, tcp, "tcp", false},
		{"port 0 matches nothing", inheritAddr{ap: netip.MustParseAddrPort("127.0.0.1:0")}, tcp, "tcp", false},
		{"unix at its path", inheritAddr{path: path}, ux, "unix", true},
		{"unix elsewhere", inheritAddr{path: path + "x"}, ux, "unix", false},
		{"tcp for a unix worker", inheritAddr{path: path}, tcp, "unix", false},
	} {
		if got := c.addr.matches(c.fd, c.kind); got != c.want {
			t.Errorf("%s: matches = %v, want %v", c.name, got, c.want)
		}
	}
}
