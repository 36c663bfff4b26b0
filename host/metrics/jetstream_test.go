package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/metrics"
)

// The JetStream observer records each measurement under the series the
// operator's guide names.
func TestJetStreamObserver(t *testing.T) {
	m := metrics.New()
	j := metrics.NewJetStream(m)
	j.Published(2*time.Millisecond, false)
	j.Published(time.Millisecond, true)
	j.PublishFailed(0, fmt.Errorf("publish: %w", jetstream.ErrUnavailable))
	j.PublishFailed(5*time.Second, fmt.Errorf("publish: %w", context.DeadlineExceeded))
	j.PublishFailed(time.Second, fmt.Errorf("publish: %w", nats.ErrNoResponders))
	j.PublishFailed(time.Second, fmt.Errorf("stream sealed"))
	j.ActionServed("reply", 200, time.Millisecond)
	j.ActionServed("actions", 400, time.Millisecond)
	j.ActionRedelivered("reply")
	j.ConsumerLag("agents", jetstream.Lag{Pending: 3, AckPending: 2, Waiting: 1}, true)

	want := `
# HELP relay_host_jetstream_publish_duplicates_total PubAcks saying the stream already held the event (a replayed forward within the duplicate window): not stored again.
# TYPE relay_host_jetstream_publish_duplicates_total counter
relay_host_jetstream_publish_duplicates_total 1
# HELP relay_host_jetstream_publish_failures_total Events not handed off to JetStream (no PubAck; the forward stays un-acknowledged), by cause (unavailable, timeout, no_responders, error).
# TYPE relay_host_jetstream_publish_failures_total counter
relay_host_jetstream_publish_failures_total{cause="error"} 1
relay_host_jetstream_publish_failures_total{cause="no_responders"} 1
relay_host_jetstream_publish_failures_total{cause="timeout"} 1
relay_host_jetstream_publish_failures_total{cause="unavailable"} 1
# HELP relay_host_jetstream_actions_total Workers' requests answered on the actions and reply subjects, by endpoint (actions, reply) and the HTTP status of the answer.
# TYPE relay_host_jetstream_actions_total counter
relay_host_jetstream_actions_total{endpoint="actions",status="400"} 1
relay_host_jetstream_actions_total{endpoint="reply",status="200"} 1
# HELP relay_host_jetstream_actions_redelivered_total Workers' requests that came from a redelivered event (a Relay-Delivery-Count above 1, or a second reply to one event), by endpoint.
# TYPE relay_host_jetstream_actions_redelivered_total counter
relay_host_jetstream_actions_redelivered_total{endpoint="reply"} 1
# HELP relay_host_jetstream_consumer_lag Events of the workers' consumer not yet acked (not yet delivered plus delivered and un-acked), read every few seconds; absent while the consumer does not exist.
# TYPE relay_host_jetstream_consumer_lag gauge
relay_host_jetstream_consumer_lag{consumer="agents"} 5
# HELP relay_host_jetstream_consumer_waiting Pull requests workers have open on the consumer: above 0 while an idle worker is connected.
# TYPE relay_host_jetstream_consumer_waiting gauge
relay_host_jetstream_consumer_waiting{consumer="agents"} 1
`
	names := []string{"relay_host_jetstream_publish_duplicates_total", "relay_host_jetstream_publish_failures_total",
		"relay_host_jetstream_actions_total", "relay_host_jetstream_actions_redelivered_total",
		"relay_host_jetstream_consumer_lag", "relay_host_jetstream_consumer_waiting"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "relay_host_jetstream_publish_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("publish latency histogram: %d series, %v", n, err)
	}

	// A consumer that is gone has no lag series.
	j.ConsumerLag("agents", jetstream.Lag{}, false)
	if n, err := testutil.GatherAndCount(m.Registry(), "relay_host_jetstream_consumer_lag", "relay_host_jetstream_consumer_waiting"); err != nil || n != 0 {
		t.Fatalf("lag series after the consumer went: %d, %v", n, err)
	}
}
