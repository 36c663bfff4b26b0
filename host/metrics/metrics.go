// Package metrics holds relay-host's Prometheus metrics. One Metrics value
// owns its own registry (no global state), implements the transport's
// observer hooks (relay.Observer) and records the plugin supervisors' events
// through PluginUp and PluginRestarted (cmd/relay-host adapts them to
// plugins.Observer, so that the runtime in package host, which uses Metrics,
// does not depend on package plugins).
//
// Label values are bounded: a platform label is one the gateway was told
// about (AllowPlatforms: its identities and its plugins' platforms) or
// "unknown", whatever platform a connector sends, and every other label
// value is clipped to maxLabel bytes of valid UTF-8, so that no value can
// make the Prometheus client panic or a /metrics page grow with the traffic.
package metrics

import (
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/relayhost/relay-host/host/relay"
)

const namespace = "relay_host"

// UnknownPlatform is the platform label of a forward or event whose
// platform is not one AllowPlatforms named.
const UnknownPlatform = "unknown"

// knownOps are the outbound ops of docs/protocol.md (Outbound actions): the
// op label takes one of them or "other", whatever op an agent sends.
var knownOps = map[string]bool{
	"send": true, "edit": true, "typing": true, "get_chat_info": true, "follow_up": true, "send_media": true,
	"prompt": true, "react": true, "thread_create": true, "thread_rename": true, "draft": true, "delete": true,
	"task_card": true, "task_card_stop": true,
}

// maxLabel bounds every other label value, in bytes: the longest value
// relay-host itself produces (a plugin name, an op) is a few dozen.
const maxLabel = 64

// latencyBuckets cover a forward's trip through a plugin and an agent turn:
// from the ~100 µs of a local conversion to the seconds of a slow webhook.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics is the set of relay-host metrics.
type Metrics struct {
	registry *prometheus.Registry

	connState      *prometheus.GaugeVec
	dormant        prometheus.Gauge
	reconnects     prometheus.Counter
	framesIn       *prometheus.CounterVec
	framesOut      *prometheus.CounterVec
	badFrames      *prometheus.CounterVec
	forwards       *prometheus.CounterVec
	forwardLatency *prometheus.HistogramVec
	pluginUp       *prometheus.GaugeVec
	pluginRestarts *prometheus.CounterVec
	agentLatency   prometheus.Histogram
	agentFailures  prometheus.Counter
	outbound       *prometheus.CounterVec
	acks           prometheus.Counter
	replays        prometheus.Counter
	answerActions  *prometheus.CounterVec
	shed           *prometheus.CounterVec

	// inFlight reports the deliveries and bytes in flight at each scrape
	// (set by ObserveInFlight).
	inFlight atomic.Pointer[func() (count, bytes int)]

	// platforms are the platform label values allowed besides
	// UnknownPlatform (set by AllowPlatforms).
	platforms atomic.Pointer[map[string]bool]
}

// New creates the metrics and registers them, with the Go and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		connState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "connection_state",
			Help: "1 for the connector link's current state (disconnected, connecting, connected, dormant), 0 for the others."}, []string{"state"}),
		dormant: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "dormant",
			Help: "1 while the link is dormant (closed after going_idle_ack until a wake; the connector buffers), else 0."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "reconnects_total",
			Help: "Re-dials of the connector after the first dial."}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "frames_in_total",
			Help: "Frames received from the connector, by type."}, []string{"type"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "frames_out_total",
			Help: "Frames sent to the connector, by type."}, []string{"type"}),
		badFrames: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "bad_frames_total",
			Help: "Frames from the connector that were skipped, by reason."}, []string{"reason"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "forwards_total",
			Help: "Forwards processed, by platform and outcome (handled, dropped, rejected, failed, duplicate)."}, []string{"platform", "disposition"}),
		forwardLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "forward_duration_seconds",
			Help: "Time from a forward's arrival to its settlement (plugin, agent hand-off and ack), by platform.", Buckets: latencyBuckets}, []string{"platform"}),
		pluginUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "plugin_up",
			Help: "1 when the plugin process is up and serving, else 0."}, []string{"plugin"}),
		pluginRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "plugin_restarts_total",
			Help: "Restarts of a plugin process after it died."}, []string{"plugin"}),
		agentLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "agent_duration_seconds",
			Help: "Time the agent took to take one event (and reply, when it replies inline).", Buckets: latencyBuckets}),
		agentFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "agent_failures_total",
			Help: "Events the agent did not take (the forward stays un-acknowledged)."}),
		outbound: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "outbound_results_total",
			Help: "Outbound requests (replies) by op and result (success, failure, ambiguous, declined)."}, []string{"op", "result"}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "acks_total",
			Help: "inbound_ack frames sent for buffered deliveries."}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "replays_deduplicated_total",
			Help: "Buffered deliveries that were already settled and were acknowledged again without re-running."}),
		answerActions: newAnswerActions(),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "deliveries_not_started_total",
			Help: "Deliveries left un-acknowledged without being started, by reason (platform_busy: the platform's queue is full while other platforms are in use; stalled: the host's bounds stayed full with nothing progressing; stopping)."}, []string{"reason"}),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "deliveries_in_flight",
		Help: "Deliveries (forwards and inbound events) admitted and not finished."},
		func() float64 { n, _ := m.readInFlight(); return float64(n) })
	inFlightBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "deliveries_in_flight_bytes",
		Help: "Bytes of the deliveries admitted and not yet settled."},
		func() float64 { _, b := m.readInFlight(); return float64(b) })
	m.registry.MustRegister(m.connState, m.dormant, m.reconnects, m.framesIn, m.framesOut, m.badFrames, m.forwards,
		m.forwardLatency, m.pluginUp, m.pluginRestarts, m.agentLatency, m.agentFailures, m.outbound, m.acks, m.replays, m.answerActions,
		m.shed, inFlight, inFlightBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.State(relay.StateDisconnected)
	return m
}

// AllowPlatforms sets the platforms that appear as platform labels: the
// gateway's identities and its plugins' platforms. Any other platform is
// counted as UnknownPlatform. Until it is called every platform is.
func (m *Metrics) AllowPlatforms(platforms ...string) {
	set := map[string]bool{}
	if old := m.platforms.Load(); old != nil {
		maps.Copy(set, *old)
	}
	for _, p := range platforms {
		if p != "" && p != UnknownPlatform {
			set[label(p)] = true
		}
	}
	m.platforms.Store(&set)
}

// platformLabel is the label value for platform.
func (m *Metrics) platformLabel(platform string) string {
	if set := m.platforms.Load(); set != nil && (*set)[platform] {
		return platform
	}
	return UnknownPlatform
}

// label makes s safe as a label value: valid UTF-8 (the client panics
// otherwise) of at most maxLabel bytes.
func label(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > maxLabel {
		n := maxLabel
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return s
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry returns the registry, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// State implements relay.Observer.
func (m *Metrics) State(s relay.State) {
	for _, st := range []relay.State{relay.StateDisconnected, relay.StateConnecting, relay.StateConnected, relay.StateDormant} {
		v := 0.0
		if st == s {
			v = 1
		}
		m.connState.WithLabelValues(st.String()).Set(v)
	}
	switch s {
	case relay.StateDormant:
		m.dormant.Set(1)
	case relay.StateConnected:
		m.dormant.Set(0)
	}
}

// FrameIn implements relay.Observer.
func (m *Metrics) FrameIn(typ string) { m.framesIn.WithLabelValues(label(typ)).Inc() }

// FrameOut implements relay.Observer.
func (m *Metrics) FrameOut(typ string) { m.framesOut.WithLabelValues(label(typ)).Inc() }

// Reconnect implements relay.Observer.
func (m *Metrics) Reconnect() { m.reconnects.Inc() }

// BadFrame implements relay.Observer.
func (m *Metrics) BadFrame(reason string) { m.badFrames.WithLabelValues(label(reason)).Inc() }

// PluginUp records whether the named plugin is up (serving) or not (down,
// unhealthy, stopped).
func (m *Metrics) PluginUp(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.pluginUp.WithLabelValues(label(name)).Set(v)
}

// PluginRestarted counts one restart of the named plugin.
func (m *Metrics) PluginRestarted(name string) { m.pluginRestarts.WithLabelValues(label(name)).Inc() }

// ForwardOutcome counts one forward by platform (see AllowPlatforms) and
// outcome.
func (m *Metrics) ForwardOutcome(platform, outcome string) {
	m.forwards.WithLabelValues(m.platformLabel(platform), label(outcome)).Inc()
}

// ForwardLatency records a settled forward's time from arrival to ack, by
// platform (see AllowPlatforms).
func (m *Metrics) ForwardLatency(platform string, d time.Duration) {
	m.forwardLatency.WithLabelValues(m.platformLabel(platform)).Observe(d.Seconds())
}

// Shed counts one delivery left un-acknowledged without being started.
func (m *Metrics) Shed(reason string) { m.shed.WithLabelValues(label(reason)).Inc() }

// ObserveInFlight sets where the in-flight gauges are read from at each
// scrape: the deliveries admitted and not finished, and the bytes of those
// not yet settled.
func (m *Metrics) ObserveInFlight(fn func() (count, bytes int)) { m.inFlight.Store(&fn) }

func (m *Metrics) readInFlight() (count, bytes int) {
	if fn := m.inFlight.Load(); fn != nil {
		return (*fn)()
	}
	return 0, 0
}

// AgentTurn records one agent hand-off.
func (m *Metrics) AgentTurn(d time.Duration, err error) {
	m.agentLatency.Observe(d.Seconds())
	if err != nil {
		m.agentFailures.Inc()
	}
}

// Outbound records one outbound request's result, by op (one of the
// protocol's ops, else "other") and result.
func (m *Metrics) Outbound(op string, r relay.OutboundResult) {
	result := "success"
	switch {
	case r.Success:
	case r.Ambiguous:
		result = "ambiguous"
	case r.EgressDeclined():
		result = "declined"
	default:
		result = "failure"
	}
	if !knownOps[op] {
		op = "other"
	}
	m.outbound.WithLabelValues(op, result).Inc()
}

// Ack counts one inbound_ack sent.
func (m *Metrics) Ack() { m.acks.Inc() }

// Replay counts one already-settled buffered delivery acknowledged again.
func (m *Metrics) Replay() { m.replays.Inc() }
