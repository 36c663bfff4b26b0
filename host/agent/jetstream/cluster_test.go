package jetstream_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

// freePorts reserves n loopback ports for the cluster's routes, which each
// node must know before it starts.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

type clusterNode struct {
	name string
	srv  *server.Server
}

// startCluster starts three nats-server nodes with JetStream as one cluster
// on loopback, token auth on the client ports, as an operator would run
// them (docs/agents-jetstream.md), in this process.
func startCluster(t *testing.T, token string) []*clusterNode {
	t.Helper()
	routePorts := freePorts(t, 3)
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*clusterNode
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		opts := &server.Options{
			ServerName:    name,
			Host:          "127.0.0.1",
			Port:          server.RANDOM_PORT,
			Authorization: token,
			JetStream:     true,
			StoreDir:      t.TempDir(),
			NoSigs:        true,
			Cluster:       server.ClusterOpts{Name: "relay-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:        server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.SetLogger(&testServerLog{t: t, name: name}, false, false)
		s.Start()
		node := &clusterNode{name: name, srv: s}
		nodes = append(nodes, node)
		t.Cleanup(func() { node.srv.Shutdown(); node.srv.WaitForShutdown() })
	}
	for _, n := range nodes {
		if !n.srv.ReadyForConnections(waitLimit) {
			t.Fatalf("node %s not ready", n.name)
		}
	}
	return nodes
}

// testServerLog sends a cluster node's warnings and errors to the test log
// when RELAY_TEST_NATS_LOG is set.
type testServerLog struct {
	t    testing.TB
	name string
}

func (l *testServerLog) logf(level, format string, v ...any) {
	if testLogger(l.t).IsDebug() {
		l.t.Logf("%s %s: %s", l.name, level, fmt.Sprintf(format, v...))
	}
}
func (l *testServerLog) Noticef(f string, v ...any) { l.logf("notice", f, v...) }
func (l *testServerLog) Warnf(f string, v ...any)   { l.logf("warn", f, v...) }
func (l *testServerLog) Errorf(f string, v ...any)  { l.logf("error", f, v...) }
func (l *testServerLog) Fatalf(f string, v ...any)  { l.logf("fatal", f, v...) }
func (l *testServerLog) Debugf(string, ...any)      {}
func (l *testServerLog) Tracef(string, ...any)      {}

// A stream with three replicas keeps taking events while its leader node is
// shut down mid-way: every publish is eventually acknowledged (the test
// retries, as the host leaves a forward un-acked until its events are), and
// each event is stored exactly once.
func TestClusterPublishSurvivesNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node cluster: skipped under -short")
	}
	const token = "cluster-test-token"
	const events = 300
	nodes := startCluster(t, token)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.srv.ClientURL())
	}
	nc, err := js.Connect(js.ConnectConfig{URLs: urls, Token: token, Name: "cluster-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j := jsCtx(t, nc)
	ctx := ctxFor(t)

	// The cluster elects its JetStream meta leader on its own schedule; the
	// stream can be created once it has one.
	var ensureErr error
	eventually(t, "stream created on the cluster", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, ensureErr = js.EnsureStream(cctx, j, js.StreamConfig{GatewayID: "gw", Replicas: 3})
		return ensureErr == nil
	})
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	retries := 0
	publish := func(i int) {
		id := fmt.Sprintf("fwd-%d/0", i)
		deadline := time.Now().Add(waitLimit)
		for {
			_, err := p.Publish(ctx, id, "discord", []byte(fmt.Sprintf(`{"event_id":%q}`, id)))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s never acknowledged: %v", id, err)
			}
			retries++
		}
	}
	for i := range events / 3 {
		publish(i)
	}
	// Make the node this client is connected to the stream's leader, so that
	// shutting it down costs both the leader and the client's connection.
	connected := nc.ConnectedServerName()
	askedOf, askedAt := "", time.Time{}
	stepdown := fmt.Sprintf(`{"placement":{"preferred":%q}}`, connected)
	eventually(t, "stream leader on "+connected, func() bool {
		s, err := j.Stream(ctx, js.StreamName)
		if err != nil {
			return false
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return false
		}
		if ci.Leader == connected {
			return len(ci.Replicas) == 2
		}
		// Ask once per leader (an election takes a while), again when a
		// step-down was refused (the preferred node was not current yet).
		if ci.Leader != askedOf || time.Since(askedAt) > 3*time.Second {
			askedOf, askedAt = ci.Leader, time.Now()
			nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+js.StreamName, []byte(stepdown), 2*time.Second) //nolint:errcheck // seen in the next info
		}
		return false
	})
	var down *clusterNode
	for _, n := range nodes {
		if n.name == connected {
			down = n
		}
	}
	if down == nil {
		t.Fatalf("connected to %q, none of the nodes", connected)
	}
	// Shut the leader down in the middle of the run, while publishing.
	stopped := make(chan struct{})
	go func() {
		down.srv.Shutdown()
		down.srv.WaitForShutdown()
		close(stopped)
	}()
	for i := events / 3; i < events; i++ {
		publish(i)
	}
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("the leader node did not stop")
	}
	t.Logf("%d events, leader %s (the client's server) shut down after %d, %d publish retries", events, down.name, events/3, retries)

	s, err := j.Stream(ctx, js.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != events {
		t.Fatalf("stream holds %d events, want %d", n, events)
	}
	seen := map[string]int{}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for len(seen) < events {
		batch, err := oc.Fetch(events, jetstream.FetchMaxWait(waitLimit))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			seen[m.Headers().Get("Nats-Msg-Id")]++
		}
		if got == 0 {
			t.Fatalf("read %d distinct events, want %d", len(seen), events)
		}
	}
	for i := range events {
		if id := fmt.Sprintf("fwd-%d/0", i); seen[id] != 1 {
			t.Errorf("event %s stored %d times", id, seen[id])
		}
	}
}
