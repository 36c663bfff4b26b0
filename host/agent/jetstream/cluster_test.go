package jetstream_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
// them (docs/agents.md, "An external cluster"), in this process.
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
		if !n.srv.ReadyForConnections(clusterWait) {
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

// clusterWait bounds the cluster test's waits: electing the JetStream meta
// leader, then the stream's, takes a few seconds on an idle machine and
// much longer on a loaded one.
const clusterWait = 90 * time.Second

// A stream with three replicas keeps taking events while its leader node,
// which is also the node the publisher is connected to, is shut down
// mid-way: every publish is eventually acknowledged (the test retries, as
// the host leaves a forward un-acked until its events are), and each event
// is stored exactly once.
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
	admin, err := js.Connect(js.ConnectConfig{URLs: urls, Token: token, Name: "cluster-admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	j := jsCtx(t, admin)
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()

	// The cluster elects its JetStream meta leader on its own schedule; the
	// stream can be created once it has one, and has a leader of its own
	// with two current replicas a little later.
	var leader string
	eventuallyWithin(t, clusterWait, "a replicated stream with a leader", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := js.EnsureStream(cctx, j, js.StreamConfig{GatewayID: "gw", Replicas: 3}); err != nil {
			return false
		}
		s, err := j.Stream(cctx, js.StreamName)
		if err != nil {
			return false
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
			return false
		}
		for _, r := range ci.Replicas {
			if !r.Current {
				return false
			}
		}
		leader = ci.Leader
		return true
	})
	var down *clusterNode
	ordered := []string{}
	for _, n := range nodes {
		if n.name == leader {
			down = n
			ordered = append([]string{n.srv.ClientURL()}, ordered...)
		} else {
			ordered = append(ordered, n.srv.ClientURL())
		}
	}
	if down == nil {
		t.Fatalf("stream leader %q is none of the nodes", leader)
	}
	// The publisher's connection goes to the leader first (no shuffling), so
	// its loss costs the stream its leader and the client its server; it
	// reconnects the way Connect's connections do.
	nc, err := nats.Connect(strings.Join(ordered, ","), nats.Token(token), nats.DontRandomize(),
		nats.MaxReconnects(-1), nats.ReconnectWait(js.ReconnectWait), nats.Timeout(js.DialTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.ConnectedServerName(); got != leader {
		t.Fatalf("publisher connected to %s, want the leader %s", got, leader)
	}
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	retries := 0
	publish := func(i int) {
		id := fmt.Sprintf("fwd-%d/0", i)
		for {
			_, err := p.Publish(ctx, id, "discord", []byte(fmt.Sprintf(`{"event_id":%q}`, id)))
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("event %s never acknowledged: %v", id, err)
			}
			retries++
		}
	}
	for i := range events / 3 {
		publish(i)
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
	case <-ctx.Done():
		t.Fatal("the leader node did not stop")
	}
	t.Logf("%d events, leader %s (the publisher's server) shut down after %d, %d publish retries, publisher now on %s",
		events, down.name, events/3, retries, nc.ConnectedServerName())

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
