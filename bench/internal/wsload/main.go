package wsload

import (
	"context"
	"flag"

	"github.com/workermand/workermand/bench/internal/loadgen"
)

// Main is the generator's command line. It prints the events and finally
// one line "RESULT <json>" (a loadgen.Result) on stdout, and a human
// summary on stderr. SIGTERM or SIGINT ends an idle hold.
func Main(args []string) error {
	var cfg Config
	return loadgen.Command("wsload", args, &cfg.Config, loadgen.Help{
		Mode:        "reqresp: one message in flight per connection; idle: open -conns connections and hold them",
		Size:        "payload bytes per message",
		DialTimeout: "timeout per connect and handshake (and first echo in idle mode)",
	}, func(fs *flag.FlagSet) {
		fs.BoolVar(&cfg.Text, "text", false, "send text messages (default binary)")
	}, func(ctx context.Context) (loadgen.Result, error) { return Run(ctx, cfg) })
}
