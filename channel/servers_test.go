package channel_test

import (
	"testing"
	"time"

	"github.com/workermand/workermand/internal/testserver"
)

// server is a redis-server or nats-server of the test's own
// (internal/testserver), seen as a backend the tests can restart.
type server struct {
	*testserver.Server
	scheme string
}

func startRedis(t testing.TB) *server { return &server{testserver.Redis(t), "redis"} }

func startNats(t testing.TB) *server { return &server{testserver.NATS(t), "nats"} }

func (s *server) addr() string { return s.Addr() }

// url is the backend URL of the server for channel.Connect.
func (s *server) url() string { return s.scheme + "://" + s.Addr() }

func (s *server) kill() { s.Kill() }

func (s *server) restart(pause time.Duration) { s.Restart(pause) }

func (s *server) startAgain() { s.StartAgain() }
