package runner

import (
	"fmt"
	"net"
	"os"
	"os/exec"
)

// StartChannelBackend starts a Channel backend on a free loopback port
// (Start's process group, wait and Stop): "redis", redis-server without
// persistence, or "nats", nats-server with its defaults. It returns the
// server and the URL a Channel client (a worker's channel option) takes.
func StartChannelBackend(name string) (*Server, string, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	var cmd *exec.Cmd
	switch name {
	case "redis":
		dir, err := os.MkdirTemp("", "bench-redis-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(dir) // nothing is written with persistence off
		cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	case "nats":
		cmd = exec.Command("nats-server", "-a", "127.0.0.1", "-p", port)
	default:
		return nil, "", fmt.Errorf("channel backend %q: want redis or nats", name)
	}
	s, err := Start(name+"-server", cmd, addr)
	if err != nil {
		return nil, "", err
	}
	return s, name + "://" + addr, nil
}
