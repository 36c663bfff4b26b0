// Command jetstream-echo is a relay-host agent worker on NATS JetStream: it
// takes the events of one gateway from the RELAY_EVENTS stream (durable pull
// consumer "agents", shared with every other copy) and answers each event
// that has text with "echo: <text>". Run as many copies as you like, on any
// machines that reach the NATS server; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relayhost/relay-host/host/agent/jetstream/echoworker"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "jetstream-echo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("jetstream-echo", flag.ContinueOnError)
	url := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	tokenFile := fs.String("nats-token-file", "", "file holding the NATS token (relay-host's embedded server: <data-dir>/nats.token)")
	creds := fs.String("nats-creds", "", "NATS credentials file (a cluster with decentralised auth)")
	gatewayID := fs.String("gateway-id", "", "the relay-host gateway id whose events to take (required)")
	concurrency := fs.Int("concurrency", echoworker.DefaultConcurrency, "events handled at once by this copy")
	ackWait := fs.Duration("ack-wait", echoworker.DefaultAckWait, "how long an event taken by a worker waits for its ack before it goes to another worker; every copy must use the same value (it is the shared consumer's setting)")
	verbose := fs.Bool("v", false, "log each failure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *gatewayID == "" {
		return errors.New("--gateway-id is required (the --gateway-id of relay-host)")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// A worker may start before the server (relay-host's embedded one
	// starts with relay-host) or while it restarts: it keeps trying, and
	// says so, instead of exiting.
	opts := []nats.Option{
		nats.Name("jetstream-echo"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("connected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug("not connected yet; retrying every second", "error", err)
		}),
	}
	switch {
	case *tokenFile != "" && *creds != "":
		return errors.New("give --nats-token-file or --nats-creds, not both")
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--nats-token-file: %w", err)
		}
		opts = append(opts, nats.Token(strings.TrimSpace(string(b))))
	case *creds != "":
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *url, err)
	}
	defer nc.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	w := echoworker.New(nc, echoworker.Config{GatewayID: *gatewayID, Concurrency: *concurrency, AckWait: *ackWait, Logger: log})
	log.Info("taking events", "gateway_id", *gatewayID, "filter", echoworker.EventsFilter(*gatewayID), "consumer", echoworker.ConsumerName)
	if err := w.Run(ctx); err != nil {
		return err
	}
	st := w.Stats()
	log.Info("stopped", "acked", st.Acked, "naked", st.Naked, "dropped", st.Termed)
	return nil
}
