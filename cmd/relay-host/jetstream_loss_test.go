package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
)

// jsLossProgress is how many acks each step of the JetStream loss
// scenarios waits for: at the loss rig's 500 forwards a second, a tenth of
// a second of load; fewer under -short.
func jsLossProgress() int {
	if testing.Short() {
		return 20
	}
	return 50
}

// jsWorkerAckWait is the workers' ack wait in the loss scenarios: a killed
// worker's events go to another worker after it, so it is short; it still
// exceeds a reply's round trip through the host many times over.
const jsWorkerAckWait = "3s"

// outboundGate holds the connector's answers to outbound requests while it
// is closed, so that the workers' replies hang and each worker holds events
// it has not acked: a worker killed then is killed mid-event.
type outboundGate struct {
	mu      sync.Mutex
	closed  chan struct{} // nil while open
	held    []string      // contents of the follow_ups held
	changed notify.Signal
}

// outbound is the connector's Options.Outbound.
func (g *outboundGate) outbound(of relaytest.OutboundFrame) relaytest.OutboundReply {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		return relaytest.OutboundReply{}
	}
	c, _ := of.Action["content"].(string)
	g.held = append(g.held, c)
	g.changed.Notify()
	return relaytest.OutboundReply{After: g.closed}
}

func (g *outboundGate) close() {
	g.mu.Lock()
	g.closed = make(chan struct{})
	g.mu.Unlock()
}

func (g *outboundGate) open() {
	g.mu.Lock()
	close(g.closed)
	g.closed = nil
	g.mu.Unlock()
}

// heldMatching waits for a held follow_up whose content matches and
// returns the content.
func (g *outboundGate) heldMatching(ctx context.Context, match func(content string) bool) (string, error) {
	var c string
	err := g.changed.Wait(ctx, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, h := range g.held {
			if match(h) {
				c = h
				return true
			}
		}
		return false
	})
	return c, err
}

// checkJetStreamLoss drains the connector's buffer (replaying what is
// still buffered), then checks the JetStream agent's three properties:
// every bufferId acked, every forward's event in the stream exactly once,
// and every event answered by a worker at least once.
func checkJetStreamLoss(r *lossRig, url, token string) {
	t := r.t
	t.Helper()
	r.drain()
	r.mu.Lock()
	var sent []string
	for buf := range r.byBuffer {
		sent = append(sent, buf)
	}
	ids := make(map[string]string, len(r.byBuffer))
	for buf, id := range r.byBuffer {
		ids[buf] = id
	}
	r.mu.Unlock()
	if pending := r.srv.Pending(); len(pending) != 0 {
		t.Errorf("%d bufferIds never acked", len(pending))
	}
	_, j := natsClient(t, url, token)
	events, st := streamEvents(t, r.ctx, j)
	stored := map[string]int{}
	for _, e := range events {
		stored[e.msgID]++
	}
	var want []string
	for _, buf := range sent {
		if n := stored[buf+"/0"]; n != 1 {
			t.Errorf("forward %s's event is in the stream %d times, want exactly once", buf, n)
		}
		want = append(want, "echo: /cardsearch "+ids[buf])
	}
	if len(events) != len(sent) {
		t.Errorf("the stream holds %d events for %d forwards", len(events), len(sent))
	}
	waitFollowUps(t, r.ctx, r.srv, want)
	answered := map[string]int{}
	for _, c := range followUpContents(r.srv) {
		answered[c]++
	}
	again := 0
	for _, c := range want {
		if answered[c] > 1 {
			again++
		}
	}
	t.Logf("%d forwards, all acked, each event stored once (stream sequences %d–%d); every event answered by a worker, %d more than once (at-least-once); %d host processes, %d connections",
		len(sent), st.FirstSeq, st.LastSeq, again, len(r.hosts), r.srv.Dials())
	if len(sent) == 0 {
		t.Error("no forward was sent")
	}
}

// testJetStreamLoss is the loss test with the JetStream agent: the host is
// killed with SIGKILL mid-load (its embedded server with it; the next host
// restarts the server on the same file store), and a worker is killed
// while it holds events it has not acked (they go to another worker).
func testJetStreamLoss(t *testing.T) {
	gate := &outboundGate{}
	r := newLossRigWith(t, relaytest.Options{Outbound: gate.outbound})
	dataDir, natsAddr, listen := filepath.Join(t.TempDir(), "relay-data"), freeAddr(t), freeAddr(t)
	r.hostArgs = []string{"--agent", "jetstream", "--data-dir", dataDir, "--nats-listen", natsAddr, "--listen", listen}
	url, tokenFile := "nats://"+natsAddr, filepath.Join(dataDir, js.TokenFileName)
	host := r.startHost()
	first := startWorker(t, url, tokenFile, "--ack-wait", jsWorkerAckWait)
	r.produce()

	// The host, and the embedded server in it, killed mid-load.
	r.progress(jsLossProgress())
	plugins := children(host.cmd.Process.Pid)
	host.signal(t, syscall.SIGKILL)
	host.wait(t)
	awaitGone(t, plugins)
	host = r.startHost()
	r.progress(jsLossProgress())

	// The worker killed while its replies hang: it dies holding events it
	// has not acked, which go to the next worker once the ack wait is over.
	gate.close()
	isEcho := func(c string) bool { return strings.HasPrefix(c, "echo: ") }
	if _, err := gate.heldMatching(r.ctx, isEcho); err != nil {
		t.Fatalf("no reply reached the connector: %v", err)
	}
	first.kill(t)
	// The events the killed worker was replying to, with how often each
	// was answered by then (an event the first host's death interrupted
	// may have been answered twice already): each must be answered again.
	gate.mu.Lock()
	held := map[string]int{} // content → follow-ups when the worker died
	for _, c := range gate.held {
		if isEcho(c) {
			held[c] = followUpCount(r.srv, c)
		}
	}
	gate.mu.Unlock()
	startWorker(t, url, tokenFile, "--ack-wait", jsWorkerAckWait)
	gate.open()
	r.progress(jsLossProgress())
	r.stopProducing()
	checkJetStreamLoss(r, url, readToken(t, tokenFile))

	// Each event the killed worker was replying to was answered again
	// (the held answer itself was recorded as it arrived).
	t.Logf("the killed worker was replying to %d events; each was answered again by the other", len(held))
	for c, before := range held {
		if n := followUpCount(r.srv, c); n <= before {
			t.Errorf("%q, held when its worker was killed, was answered %d times, no more than before: not redelivered", c, n)
		}
	}
	if n := parseCount(metric(t, listen, `relay_host_jetstream_actions_redelivered_total{endpoint="reply"}`)); n == 0 {
		t.Errorf("the host counted no redelivered event on the reply subject")
	}
}

// followUpCount counts the follow_ups with this content.
func followUpCount(srv *relaytest.Server, content string) int {
	n := 0
	for _, c := range followUpContents(srv) {
		if c == content {
			n++
		}
	}
	return n
}

// startNATSCluster starts three nats-server nodes with JetStream as one
// cluster on loopback, with token auth, in this process, as an operator
// would run them (docs/agents.md, "An external cluster").
func startNATSCluster(t *testing.T, token string) []*server.Server {
	t.Helper()
	var routes []string
	var routePorts []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routePorts = append(routePorts, l.Addr().(*net.TCPAddr).Port)
		routes = append(routes, l.Addr().String())
		l.Close()
	}
	var nodes []*server.Server
	for i := range 3 {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT, Authorization: token,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "relay-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  server.RoutesFromStr("nats://" + strings.Join(routes, ",nats://")),
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		nodes = append(nodes, s)
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	for _, s := range nodes {
		if !s.ReadyForConnections(jsWait) {
			t.Fatalf("node %s not ready", s.Name())
		}
	}
	return nodes
}

// TestJetStreamClusterNodeLossLosesNothing runs relay-host against a
// three-node JetStream cluster (--nats-url with all three, --nats-replicas
// 3) under load and stops the node leading the stream: deliveries go on,
// and nothing is lost or stored twice.
func TestJetStreamClusterNodeLossLosesNothing(t *testing.T) {
	t.Parallel()
	const token = "cluster-test-token"
	nodes := startNATSCluster(t, token)
	var urls []string
	for _, s := range nodes {
		urls = append(urls, s.ClientURL())
	}
	url := strings.Join(urls, ",")
	tokenFile := filepath.Join(t.TempDir(), "nats.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := newLossRig(t)
	ctx := jsCtx(t)
	r.ctx = ctx // elections take longer than the loss rig's own bound on a loaded machine
	_, j := natsClient(t, url, token)
	// The cluster elects its JetStream meta leader on its own schedule;
	// relay-host retries creating the stream until it has one. Wait for
	// the stream's leader and its two replicas before the load.
	r.hostArgs = []string{"--agent", "jetstream", "--nats-url", url, "--nats-token-file", tokenFile, "--nats-replicas", "3"}
	r.startHost()
	var leader string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for leader == "" {
		if s, err := j.Stream(ctx, js.StreamName); err == nil {
			if ci := s.CachedInfo().Cluster; ci != nil && len(ci.Replicas) == 2 && ci.Replicas[0].Current && ci.Replicas[1].Current {
				leader = ci.Leader
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the stream never had a leader and two current replicas")
		case <-tick.C:
		}
	}
	startWorker(t, url, tokenFile, "--ack-wait", jsWorkerAckWait)
	r.produce()
	r.progress(jsLossProgress())
	var down *server.Server
	for _, s := range nodes {
		if s.Name() == leader {
			down = s
		}
	}
	if down == nil {
		t.Fatalf("stream leader %q is none of the nodes", leader)
	}
	down.Shutdown()
	down.WaitForShutdown()
	r.progress(jsLossProgress()) // delivery goes on with two nodes of three
	r.stopProducing()
	t.Logf("stream leader %s stopped mid-load", leader)
	checkJetStreamLoss(r, url, token)
}
