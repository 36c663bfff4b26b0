package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/relayhost/relay-host/host/loadtest"
)

const benchAbout = `Measure throughput, latency, memory, plugin start and crash recovery of a
real relay-host, as the performance targets (docs/performance.md) state
them.

bench plays the connector on loopback. It first measures a raw baseline: a
WebSocket peer process (relay-host's own transport, started from this
binary) that decodes each forward (JSON and base64) and acks it. Then it
starts this binary as ` + "`relay-host run`" + ` with the bundled plugins and the echo
agent, and sends buffered Discord interactions (copies of the Discord
goldens, each with its own bufferId) through connector → WebSocket → host →
Discord plugin → echo agent → follow_up back: a warm-up, an unbounded phase
(forwards/s; memory from /proc at its end), a phase at the offered --rate
(forward→ack latency from the forward's write to its inbound_ack), and a
kill -9 of the Discord plugin (time until a forward is served again). Then
it stops the host with SIGTERM.

The host serves the agent API on loopback during the run: bench also sends
agent API actions (POST /v1/actions send → outbound frame → the connector's
result → the HTTP answer), as fast as --action-window requests in flight
allow (actions/s), then at the offered --rate (request→answer latency).

With --agent jetstream the host runs the JetStream agent instead: its
embedded NATS server with file storage in a temporary directory, and an echo
worker (examples/agents/jetstream-echo's library) in the bench process,
connected over loopback. The same end-to-end phase first runs through a host
with the echo agent, for comparison; the report adds both, and the RSS the
embedded server adds to the host.

Forwards/s counts a forward once it is acked and its follow-up came back.
Each phase keeps at most --window forwards un-acked. For the memory target
(docs/performance.md) run the end-to-end phase for a minute: --duration 60s.

Exit status: 0 when the run completed (whether or not the targets were met;
see the verdicts), 1 when it could not run.`

func benchCommand(ctx context.Context, env *environment, args []string) error {
	if url := env.getenv(loadtest.EnvRawPeer); url != "" {
		// The bench's own child: the raw baseline peer.
		return loadtest.ServeRawPeer(ctx, url, env.getenv("RELAY_SECRET"))
	}
	fs := newFlagSet(env, "bench", "bench [flags]", benchAbout)
	var dir, addr, mix, profile, traceFile, agentName string
	fs.pluginsDirFlag(&dir)
	fs.StringVar(&addr, "connector-addr", "127.0.0.1:0", "where the load connector listens; must be a loopback address")
	count := fs.Int("count", loadtest.DefaultCount, "forwards in the raw and the end-to-end throughput phases")
	duration := fs.Duration("duration", 0, "run the end-to-end throughput phase this long instead of --count, e.g. 60s")
	window := fs.Int("window", loadtest.DefaultWindow, "forwards in flight (sent, not yet acked) at most")
	rate := fs.Float64("rate", loadtest.DefaultRate, "offered forwards/s of the latency phase; 0 skips it (unbounded latencies are still reported)")
	latencyCount := fs.Int("latency-count", loadtest.DefaultLatencyCount, "forwards (and agent API actions) in the latency phases")
	actionCount := fs.Int("action-count", loadtest.DefaultActionCount, "agent API actions in the unbounded actions phase; 0 skips the agent API phases")
	actionWindow := fs.Int("action-window", loadtest.DefaultActionWindow, "agent API actions in flight in the unbounded actions phase")
	fs.StringVar(&mix, "mix", loadtest.MixAll, "payload mix: all (slash and context-menu commands, buttons, selects, modals) or slash")
	fs.StringVar(&agentName, "agent", "echo", "the host's agent: echo, or jetstream (its embedded NATS server and an echo worker)")
	fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the host under test to this file (go tool pprof)")
	fs.StringVar(&traceFile, "trace", "", "write an execution trace of the host under test to this file (go tool trace); best with a small --count")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fs.usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *count <= 0:
		return fs.usageErrorf("--count must be positive")
	case *window <= 0:
		return fs.usageErrorf("--window must be positive")
	case *rate < 0:
		return fs.usageErrorf("--rate must be 0 (skip) or positive")
	case *latencyCount <= 0:
		return fs.usageErrorf("--latency-count must be positive")
	case *duration < 0:
		return fs.usageErrorf("--duration must be positive")
	case *actionCount < 0:
		return fs.usageErrorf("--action-count must be 0 (skip) or positive")
	case *actionWindow <= 0:
		return fs.usageErrorf("--action-window must be positive")
	}
	if *actionCount == 0 {
		*actionCount = -1 // loadtest: a negative count skips the phases
	}
	if agentName != "echo" && agentName != loadtest.AgentJetStream {
		return fmt.Errorf("--agent %q: bench runs echo or jetstream", agentName)
	}
	if err := loadtest.CheckLoopback(addr); err != nil {
		return fmt.Errorf("--connector-addr: %w", err)
	}
	if _, err := loadtest.Payloads(mix); err != nil {
		return fmt.Errorf("--mix: %w", err)
	}
	exe, err := env.executable()
	if err != nil {
		return fmt.Errorf("find this binary to run as the host under test: %w", err)
	}
	var hostEnv []string
	if profile != "" {
		abs, err := filepath.Abs(profile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		hostEnv = append(hostEnv, envCPUProfile+"="+abs)
	}
	if traceFile != "" {
		abs, err := filepath.Abs(traceFile)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		hostEnv = append(hostEnv, envTrace+"="+abs)
	}
	rep, err := loadtest.Bench(ctx, loadtest.BenchConfig{
		Exe: exe, PluginsDir: dir, ConnectorAddr: addr, Count: *count, Duration: *duration, Window: *window,
		Rate: *rate, LatencyCount: *latencyCount, ActionCount: *actionCount, ActionWindow: *actionWindow,
		Mix: mix, HostEnv: hostEnv, Progress: env.stderr, Agent: agentName,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(env.stdout)
}
