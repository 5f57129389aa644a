package workerman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

func netipFromIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func netipAddrPort(ip netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(ip, port) }

// errNoAddresses is a lookup's error for a name with no address.
var errNoAddresses = errors.New("no addresses")

// lookupHost resolves host on its own goroutine, since the resolver blocks,
// and calls done on the loop with its first address (IPv4-mapped ones as
// IPv4) or the error, which names the host.
func lookupHost(loop *EventLoop, host string, deadline time.Time, done func(netip.Addr, error)) {
	Async(loop, func() ([]net.IPAddr, error) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		return net.DefaultResolver.LookupIPAddr(ctx, host)
	}, func(ips []net.IPAddr, err error) {
		if err == nil && len(ips) == 0 {
			err = errNoAddresses
		}
		if err != nil {
			done(netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err))
			return
		}
		ip, _ := netipFromIP(ips[0].IP)
		done(ip, nil)
	})
}
