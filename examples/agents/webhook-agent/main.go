// Command webhook-agent is a small agent for relay-host, written against
// nothing but HTTP and JSON: relay-host POSTs each event to it (the webhook
// agent), and it acts through relay-host's agent API. It streams an answer
// by sending a message and editing it, asks for approval with buttons before
// it "deploys", acts on the button press, and stops when the user
// interrupts. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// shutdownGrace bounds how long a stopping agent waits for the answers it
// is still streaming.
const shutdownGrace = 10 * time.Second

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webhook-agent:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	listen, api, tokenFile string
	step                   time.Duration
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, string, error) {
	var c config
	fs := flag.NewFlagSet("webhook-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8000", "address to take relay-host's webhook POSTs on (POST /events)")
	fs.StringVar(&c.api, "api", "http://127.0.0.1:8081", "relay-host's agent API")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the agent API token (default: $RELAY_AGENT_API_TOKEN)")
	fs.DurationVar(&c.step, "step", 400*time.Millisecond, "pause between two edits of a streamed answer")
	if err := fs.Parse(args); err != nil {
		return c, "", err
	}
	token := strings.TrimSpace(getenv("RELAY_AGENT_API_TOKEN"))
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return c, "", fmt.Errorf("read the agent API token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return c, "", errors.New("no agent API token: give -token-file or set $RELAY_AGENT_API_TOKEN (relay-host dev prints one)")
	}
	return c, token, nil
}

// run serves until ctx ends or SIGINT/SIGTERM, then waits for the answers
// in flight.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, token, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(stderr, "webhook-agent: ", log.LstdFlags)
	a := newAgent(&apiClient{base: strings.TrimRight(c.api, "/"), token: token, http: &http.Client{}}, c.step, logger)
	mux := http.NewServeMux()
	mux.Handle("POST /events", a)
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	fmt.Fprintf(stdout, "webhook-agent: events on http://%s/events, acting through %s\n", l.Addr(), c.api)
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	done := make(chan struct{})
	go func() { a.work.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		return errors.New("stopped with answers still in flight")
	}
	return nil
}
