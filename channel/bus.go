package channel

import (
	"net/url"

	"go.uber.org/zap"

	"github.com/workermand/workermand/workerman"
)

// Backend returns what workerman.Worker.Channel takes: each process of
// the worker connects a Client to the backend rawURL names when it
// starts, and the worker's uids, groups and SendToAll travel through it
// (Connection.BindUID, Worker.SendToUID...):
//
//	ws := workerman.NewWorker("websocket://0.0.0.0:8090")
//	ws.Count = 4
//	ws.Channel = channel.Backend("redis://10.0.0.5:6379", channel.Options{})
//
// A bad URL fails the process's start. Options.OnError, when nil, logs to
// the process's log. The client subscribes to one event per uid and group
// its process holds, so it is made for Publish and On only: PublishLoop
// to its events does not reach it over Redis and NATS, which spares a
// connection per event (Redis) and a queue subscription per event (NATS).
// Connect a Client of your own for queues and publishLoop.
func Backend(rawURL string, o Options) func(loop *workerman.EventLoop) (workerman.Bus, error) {
	return func(loop *workerman.EventLoop) (workerman.Bus, error) {
		o := o
		o.eventsOnly = true
		if o.OnError == nil {
			log := loop.Logger()
			where := rawURL
			if u, err := url.Parse(rawURL); err == nil {
				where = u.Redacted()
			}
			o.OnError = func(err error) {
				log.Warn("channel of the uids and groups", zap.String("backend", where), zap.Error(err))
			}
		}
		c, err := Connect(loop, rawURL, o)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
