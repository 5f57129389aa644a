package wsload

import (
	"context"
	"flag"

	"github.com/workermand/workermand/bench/internal/loadgen"
	"github.com/workermand/workermand/bench/internal/tlsload"
)

// Main is the generator's command line. It prints the events and finally
// one line "RESULT <json>" (a loadgen.Result) on stdout, and a human
// summary on stderr. SIGTERM or SIGINT ends an idle hold.
func Main(args []string) error {
	var cfg Config
	var useTLS bool
	var ca string
	return loadgen.Command("wsload", args, &cfg.Config, loadgen.Help{
		Mode:        "reqresp: one message in flight per connection; idle: open -conns connections and hold them",
		Size:        "payload bytes per message",
		DialTimeout: "timeout per connect and handshake (and first echo in idle mode)",
	}, func(fs *flag.FlagSet) {
		fs.BoolVar(&cfg.Text, "text", false, "send text messages (default binary)")
		fs.BoolVar(&cfg.SkipGreeting, "skip-greeting", false, "read and ignore one message after each handshake (a server that greets first)")
		fs.BoolVar(&useTLS, "tls", false, "wss://: websocket over TLS (X25519 only, as every TLS client of the benchmark)")
		fs.StringVar(&ca, "ca", "", "with -tls: PEM `file` of the certificate to trust (default: no verification)")
	}, func(ctx context.Context) (loadgen.Result, error) {
		if useTLS {
			var err error
			if cfg.TLS, err = tlsload.ClientConfig(ca); err != nil {
				return loadgen.Result{Mode: cfg.Mode}, err
			}
		}
		return Run(ctx, cfg)
	})
}
