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
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// Shutdown budget on SIGINT/SIGTERM (docs/operating.md, Shutdown): ask the
// connector to buffer (going_idle), let deliveries in progress settle, drain
// in-flight outbound replies, then stop the plugins. Each step is bounded so a stuck connector
// or agent cannot hold the process; the whole sequence stays under the 10 s
// that systemd and container runtimes give before SIGKILL.
const (
	goingIdleBudget = 2 * time.Second // the reference's go_idle at disconnect (docs/protocol.md, Going idle)
	settleBudget    = 4 * time.Second
	drainBudget     = 2 * time.Second // the drain's grace (docs/protocol.md, Disconnect drain)
	httpStopBudget  = 1 * time.Second
)

// gatewayConfig is everything one gateway (run or dev) needs.
type gatewayConfig struct {
	connector  string
	gatewayID  string
	secret     string
	identities []relay.Identity
	pluginsDir string
	pluginUser *launcher.User // nil: plugins run as the host's user
	agent      agent.Agent
	listen     string
	logger     hclog.Logger
	// ready, when set, is called with the /metrics address (if any) once
	// plugins are up and the link has its first descriptors (or gave up).
	ready func(httpAddr string)
	// relayTuning lets dev mode and tests shorten the transport's timings.
	relayTuning func(*relay.Config)
	// trace, when set, is told each stage of each delivery.
	trace func(host.Step)

	// plugins are the plugin flags (configuration files, strict start).
	plugins pluginFlags
	// link holds the control-plane settings of the link (control.go).
	link linkSettings
	// agentAPI configures the agent API (agentapi.go).
	agentAPI agentAPIConfig
	// metrics, when set, are the gateway's metrics (the JetStream agent
	// registers its own on them first); nil makes new ones.
	metrics *metrics.Metrics
	// jetstream, when set, is the running JetStream agent: its workers'
	// requests are answered through the agent API core.
	jetstream *jetstreamRuntime
}

// readyWait bounds the wait for the link's first descriptors before
// gatewayConfig.ready is called: the transport's own handshake budget.
const readyWait = relay.DefaultHandshakeTimeout

// runGateway runs the gateway until ctx ends (clean shutdown, nil) or the
// connector revokes the credential (exit code 3).
func runGateway(ctx context.Context, cfg gatewayConfig) error {
	if ln := cfg.agentAPI.listener; ln != nil {
		defer ln.Close() // closed by the server's shutdown too; this covers a failed start
	}
	log := cfg.logger
	m := cfg.metrics
	if m == nil {
		m = metrics.New()
	}
	start := time.Now()
	mgr, err := plugins.Open(ctx, cfg.plugins.config(plugins.Config{Dir: cfg.pluginsDir, Logger: log, Observer: pluginMetrics{m}, User: cfg.pluginUser}))
	if err != nil {
		return err
	}
	defer mgr.Close()
	log.Info("plugins up", "count", len(mgr.Statuses()), "platforms", mgr.Platforms(), "elapsed", time.Since(start).Round(time.Millisecond))
	// Only platforms the gateway names become metric labels; anything a
	// connector sends besides is counted as "unknown".
	m.AllowPlatforms(mgr.Platforms()...)
	for _, id := range cfg.identities {
		m.AllowPlatforms(id.Platform)
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
		Handler: h, Logger: log.Named("relay"), Observer: m, Busy: h.Busy,
	}
	cfg.link.apply(&rc)
	if cfg.relayTuning != nil {
		cfg.relayTuning(&rc)
	}
	client, err := relay.New(rc)
	if err != nil {
		return fmt.Errorf("configure connector link: %w", err)
	}
	svc, err := newAgentService(cfg, client, m, pluginEgress{mgr})
	if err != nil {
		return err
	}
	h.UseAgentAPI(svc)
	h.Attach(egressLink{Link: client, egress: pluginEgress{mgr}})
	defer wakeOnSignal(client, log)()
	api := serveAgentAPI(cfg, svc)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), httpStopBudget)
		defer cancel()
		api.stop(sctx, log)
	}()
	stopJetStream, err := attachJetStream(cfg, svc)
	if err != nil {
		return err
	}
	defer stopJetStream()

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
		// What dev prints next (the agent API's curl line) must work at
		// once: wait for the handshake's descriptors, or for Run to end.
		// A link that may go dormant may never be ready again before a
		// wake, and an agent API call wakes it anyway: no wait then.
		if cfg.link.dormantAfter == 0 {
			wctx, cancel := context.WithTimeout(ctx, readyWait)
			_ = client.WaitReady(wctx)
			cancel()
		}
		cfg.ready(httpAddr)
	}

	select {
	case err := <-runErr:
		h.Stop()
		if errors.Is(err, relay.ErrDormant) {
			log.Info("dormant: exiting (--dormant-exit); the connector buffers until the gateway is started again")
			return nil
		}
		if errors.Is(err, relay.ErrRevoked) {
			return &exitError{code: exitRevoked, err: fmt.Errorf("%w: the connector no longer accepts this gateway's credential; re-enroll the gateway or fix --gateway-id / the secret", err)}
		}
		if err != nil {
			return fmt.Errorf("connector link: %w", err)
		}
		return nil
	case <-ctx.Done():
	}

	if client.Dormant() {
		log.Info("shutting down while dormant: the connector is buffering already")
	} else {
		log.Info("shutting down: asking the connector to buffer new deliveries")
		ictx, cancel := context.WithTimeout(context.Background(), goingIdleBudget)
		acked := client.GoIdle(ictx)
		cancel()
		if !acked {
			log.Warn("no going_idle_ack; deliveries arriving now may wait for the next connection")
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), settleBudget)
	if err := h.Wait(sctx); err != nil {
		log.Warn("deliveries still in progress at shutdown are left un-acknowledged for redelivery")
	}
	cancel()
	h.Stop()
	dctx, cancel := context.WithTimeout(context.Background(), drainBudget)
	api.stop(dctx, log) // the agent API's requests in flight share the drain with the link
	if err := client.Close(dctx); err != nil {
		log.Warn("connector link did not close cleanly", "error", err)
	}
	cancel()
	<-runErr
	log.Info("shutdown complete")
	return nil
}

// Limits of the --listen server. Its clients are a metrics scraper and
// health probes on a trusted network, each request a GET without a body
// answered at once, so every bound is generous for them and short for a
// client that opens connections and sends nothing (docs/operating.md,
// Limits and isolation).
const (
	// listenReadHeaderTimeout bounds reading a request's headers.
	listenReadHeaderTimeout = 5 * time.Second
	// listenReadTimeout bounds reading a whole request, body included.
	listenReadTimeout = 10 * time.Second
	// listenWriteTimeout bounds writing a response: a /metrics page is a
	// few KiB, written in milliseconds.
	listenWriteTimeout = 30 * time.Second
	// listenIdleTimeout closes a kept-alive connection with no request for
	// this long; scrapers come every 15 s or more and reconnect cheaply.
	listenIdleTimeout = 10 * time.Second
	// listenMaxHeaderBytes bounds a request's header block: a probe's
	// headers are a few hundred bytes.
	listenMaxHeaderBytes = 16 << 10
)

// serveHTTP serves /metrics, /healthz, /readyz and /wake on addr.
// agentReady, when set, is the agent's own readiness (the JetStream
// agent's), which /readyz reports under "agent".
func serveHTTP(addr string, m *metrics.Metrics, client *relay.Client, mgr *plugins.Manager, agentReady func() (bool, string), log hclog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /wake", wakeHandler(client, log))
	mux.HandleFunc("POST /wake", wakeHandler(client, log))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status := struct {
			Ready     bool          `json:"ready"`
			Connector string        `json:"connector"`
			Plugins   []readyPlugin `json:"plugins"`
			Degraded  bool          `json:"degraded"`
			Dormant   bool          `json:"dormant"`
			Reasons   []string      `json:"reasons,omitempty"`
			Agent     string        `json:"agent,omitempty"`
		}{Connector: client.State().String(), Dormant: client.Dormant()}
		status.Plugins, status.Reasons = pluginReadiness(r.Context(), mgr)
		status.Degraded = len(status.Reasons) > 0
		if status.Dormant {
			status.Reasons = append(status.Reasons, dormantReason)
		}
		status.Ready = client.Ready() && mgr.Healthy()
		if agentReady != nil {
			ok, why := agentReady()
			status.Ready, status.Agent = status.Ready && ok, why
			if !ok {
				status.Reasons = append(status.Reasons, "agent: "+why)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !status.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(status)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: listenReadHeaderTimeout, ReadTimeout: listenReadTimeout,
		WriteTimeout: listenWriteTimeout, IdleTimeout: listenIdleTimeout, MaxHeaderBytes: listenMaxHeaderBytes}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "error", err)
		}
	}()
	log.Info("serving /metrics, /healthz, /readyz and /wake", "addr", ln.Addr().String())
	return srv, ln.Addr().String(), nil
}
