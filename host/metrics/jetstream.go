package metrics

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayhost/relay-host/host/agent/jetstream"
)

// publishBuckets cover one JetStream publish up to its PubAck: about 100 µs
// in process with the embedded server, a millisecond or two on a LAN
// cluster, seconds while a stream leader is elected, up to the 5 s publish
// timeout.
var publishBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Causes of a failed publish, the values of the "cause" label.
const (
	publishCauseUnavailable  = "unavailable"   // NATS down past the agent's grace: failed at once
	publishCauseTimeout      = "timeout"       // no PubAck within the publish timeout
	publishCauseNoResponders = "no_responders" // no stream leader answered (an election, a lost quorum)
	publishCauseError        = "error"         // anything else JetStream answered
)

// JetStream is the JetStream agent's metrics, registered on a Metrics'
// registry. It implements jetstream.Observer.
type JetStream struct {
	publishLatency  prometheus.Histogram
	publishFailures *prometheus.CounterVec
	duplicates      prometheus.Counter
	actions         *prometheus.CounterVec
	actionLatency   *prometheus.HistogramVec
	redelivered     *prometheus.CounterVec
	lag             *prometheus.GaugeVec
	waiting         *prometheus.GaugeVec
}

var _ jetstream.Observer = (*JetStream)(nil)

// NewJetStream creates the JetStream agent's metrics and registers them
// with m. Call it once per Metrics, when the JetStream agent runs.
func NewJetStream(m *Metrics) *JetStream {
	j := &JetStream{
		publishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "jetstream_publish_duration_seconds",
			Help: "Time from publishing an event to its PubAck (events handed off to JetStream).", Buckets: publishBuckets}),
		publishFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jetstream_publish_failures_total",
			Help: "Events not handed off to JetStream (no PubAck; the forward stays un-acknowledged), by cause (unavailable, timeout, no_responders, error)."},
			[]string{"cause"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "jetstream_publish_duplicates_total",
			Help: "PubAcks saying the stream already held the event (a replayed forward within the duplicate window): not stored again."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jetstream_actions_total",
			Help: "Workers' requests answered on the actions and reply subjects, by endpoint (actions, reply) and the HTTP status of the answer."},
			[]string{"endpoint", "status"}),
		actionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "jetstream_action_duration_seconds",
			Help: "Time to answer a worker's request on the actions or reply subject, by endpoint.", Buckets: latencyBuckets},
			[]string{"endpoint"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jetstream_actions_redelivered_total",
			Help: "Workers' requests that came from a redelivered event (a Relay-Delivery-Count above 1, or a second reply to one event), by endpoint."},
			[]string{"endpoint"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "jetstream_consumer_lag",
			Help: "Events of the workers' consumer not yet acked (not yet delivered plus delivered and un-acked), read every few seconds; absent while the consumer does not exist."},
			[]string{"consumer"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "jetstream_consumer_waiting",
			Help: "Pull requests workers have open on the consumer: above 0 while an idle worker is connected."},
			[]string{"consumer"}),
	}
	m.registry.MustRegister(j.publishLatency, j.publishFailures, j.duplicates, j.actions, j.actionLatency, j.redelivered, j.lag, j.waiting)
	return j
}

// Published implements jetstream.Observer.
func (j *JetStream) Published(latency time.Duration, duplicate bool) {
	j.publishLatency.Observe(latency.Seconds())
	if duplicate {
		j.duplicates.Inc()
	}
}

// PublishFailed implements jetstream.Observer.
func (j *JetStream) PublishFailed(_ time.Duration, err error) {
	j.publishFailures.WithLabelValues(publishCause(err)).Inc()
}

// publishCause names the cause of a failed publish.
func publishCause(err error) string {
	switch {
	case errors.Is(err, jetstream.ErrUnavailable):
		return publishCauseUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return publishCauseTimeout
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, natsjs.ErrNoStreamResponse):
		return publishCauseNoResponders
	}
	return publishCauseError
}

// ActionServed implements jetstream.Observer.
func (j *JetStream) ActionServed(endpoint string, status int, latency time.Duration) {
	j.actions.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	j.actionLatency.WithLabelValues(endpoint).Observe(latency.Seconds())
}

// ActionRedelivered implements jetstream.Observer.
func (j *JetStream) ActionRedelivered(endpoint string) { j.redelivered.WithLabelValues(endpoint).Inc() }

// ConsumerLag implements jetstream.Observer.
func (j *JetStream) ConsumerLag(consumer string, lag jetstream.Lag, ok bool) {
	if !ok {
		j.lag.DeleteLabelValues(consumer)
		j.waiting.DeleteLabelValues(consumer)
		return
	}
	j.lag.WithLabelValues(consumer).Set(float64(lag.Unacked()))
	j.waiting.WithLabelValues(consumer).Set(float64(lag.Waiting))
}
