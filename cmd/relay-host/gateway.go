package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/host"
	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/host/relay"
)

// Shutdown budget on SIGINT/SIGTERM (DESIGN §4): ask the connector to buffer
// (going_idle), let deliveries in progress settle, drain in-flight outbound
// replies, then stop the plugins. Each step is bounded so a stuck connector
// or agent cannot hold the process; the whole sequence stays under the 10 s
// that systemd and container runtimes give before SIGKILL.
const (
	goingIdleBudget = 2 * time.Second // the reference's go_idle at disconnect (wire-contract.md §4.4)
	settleBudget    = 4 * time.Second
	drainBudget     = 2 * time.Second // §4.6 grace
	httpStopBudget  = 1 * time.Second
)

// gatewayConfig is everything one gateway (run or dev) needs.
type gatewayConfig struct {
	connector  string
	gatewayID  string
	secret     string
	identities []relay.Identity
	pluginsDir string
	agent      agent.Agent
	listen     string
	logger     hclog.Logger
	// ready, when set, is called with the /metrics address (if any) once
	// plugins are up and the link is being dialed.
	ready func(httpAddr string)
	// relayTuning lets dev mode and tests shorten the transport's timings.
	relayTuning func(*relay.Config)
	// trace, when set, is told each stage of each delivery.
	trace func(host.Step)
	// metrics, when set, are the gateway's metrics (the JetStream agent
	// registers its own on them first); nil makes new ones.
	metrics *metrics.Metrics
	// jetstream, when set, is the running JetStream agent: its workers'
	// requests are answered through the agent API core.
	jetstream *jetstreamRuntime
}

// runGateway runs the gateway until ctx ends (clean shutdown, nil) or the
// connector revokes the credential (exit code 3).
func runGateway(ctx context.Context, cfg gatewayConfig) error {
	log := cfg.logger
	m := cfg.metrics
	if m == nil {
		m = metrics.New()
	}
	start := time.Now()
	mgr, err := plugins.Open(ctx, plugins.Config{Dir: cfg.pluginsDir, Logger: log, Observer: m})
	if err != nil {
		return err
	}
	defer mgr.Close()
	log.Info("plugins up", "count", len(mgr.Statuses()), "platforms", mgr.Platforms(), "elapsed", time.Since(start).Round(time.Millisecond))
	for _, id := range cfg.identities {
		if !mgr.Serves(id.Platform) {
			log.Info("no plugin serves this identity's platform: its passthrough forwards will be dropped (normalised inbound events still reach the agent)", "platform", id.Platform)
		}
	}

	h, err := host.New(host.Config{Identities: cfg.identities, Plugins: mgr, Agent: cfg.agent, Logger: log.Named("host"), Metrics: m, Trace: cfg.trace})
	if err != nil {
		return err
	}
	rc := relay.Config{
		URL: cfg.connector, GatewayID: cfg.gatewayID, Secret: cfg.secret, Identities: cfg.identities,
		Handler: h, Logger: log.Named("relay"), Observer: m,
	}
	if cfg.relayTuning != nil {
		cfg.relayTuning(&rc)
	}
	client, err := relay.New(rc)
	if err != nil {
		return fmt.Errorf("configure connector link: %w", err)
	}
	stopAgentAPI, err := attachAgentAPI(cfg, h, client)
	if err != nil {
		return err
	}
	defer stopAgentAPI()
	h.Attach(client)

	httpAddr := ""
	if cfg.listen != "" {
		srv, addr, err := serveHTTP(cfg.listen, m, client, mgr, agentReadiness(cfg.agent), log)
		if err != nil {
			return err
		}
		httpAddr = addr
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), httpStopBudget)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	runErr := make(chan error, 1)
	go func() { runErr <- client.Run(context.Background()) }()
	if cfg.ready != nil {
		cfg.ready(httpAddr)
	}

	select {
	case err := <-runErr:
		h.Stop()
		if errors.Is(err, relay.ErrRevoked) {
			return &exitError{code: exitRevoked, err: fmt.Errorf("%w: the connector no longer accepts this gateway's credential; re-enroll the gateway or fix --gateway-id / the secret", err)}
		}
		if err != nil {
			return fmt.Errorf("connector link: %w", err)
		}
		return nil
	case <-ctx.Done():
	}

	log.Info("shutting down: asking the connector to buffer new deliveries")
	ictx, cancel := context.WithTimeout(context.Background(), goingIdleBudget)
	acked := client.GoIdle(ictx)
	cancel()
	if !acked {
		log.Warn("no going_idle_ack; deliveries arriving now may wait for the next connection")
	}
	sctx, cancel := context.WithTimeout(context.Background(), settleBudget)
	if err := h.Wait(sctx); err != nil {
		log.Warn("deliveries still in progress at shutdown are left un-acknowledged for redelivery")
	}
	cancel()
	h.Stop()
	dctx, cancel := context.WithTimeout(context.Background(), drainBudget)
	if err := client.Close(dctx); err != nil {
		log.Warn("connector link did not close cleanly", "error", err)
	}
	cancel()
	<-runErr
	log.Info("shutdown complete")
	return nil
}

// serveHTTP serves /metrics, /healthz and /readyz on addr. agentReady,
// when set, is the agent's own readiness (the JetStream agent's), which
// /readyz reports under "agent".
func serveHTTP(addr string, m *metrics.Metrics, client *relay.Client, mgr *plugins.Manager, agentReady func() (bool, string), log hclog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		type pluginState struct {
			Name     string `json:"name"`
			State    string `json:"state"`
			Restarts int    `json:"restarts"`
		}
		status := struct {
			Ready     bool          `json:"ready"`
			Connector string        `json:"connector"`
			Plugins   []pluginState `json:"plugins"`
			Agent     string        `json:"agent,omitempty"`
		}{Connector: client.State().String()}
		for _, st := range mgr.Statuses() {
			status.Plugins = append(status.Plugins, pluginState{st.Name, string(st.State), st.Restarts})
		}
		status.Ready = client.Ready() && mgr.Healthy()
		if agentReady != nil {
			ok, why := agentReady()
			status.Ready, status.Agent = status.Ready && ok, why
		}
		w.Header().Set("Content-Type", "application/json")
		if !status.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(status)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "error", err)
		}
	}()
	log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	return srv, ln.Addr().String(), nil
}
