package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

// The JetStream agent's guarantees, through the real binary: relay-host run
// --agent jetstream with the bundled plugins, its embedded NATS server (or
// NATS servers this test process runs, for --nats-url), and the example
// worker examples/agents/jetstream-echo as a separate process where a
// worker must be killed.

// jsWait bounds the waits of these tests that involve NATS: a forward
// settles in milliseconds, a worker reconnects within a couple of seconds,
// a cluster elects a stream leader within seconds on an idle machine and
// far slower on a loaded one.
const jsWait = 90 * time.Second

// jsCtx is a context bounded by jsWait.
func jsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), jsWait)
	t.Cleanup(cancel)
	return ctx
}

// jsRig is a connector and relay-host processes with the JetStream agent
// and its embedded server on a fixed loopback port and data dir, so a
// restarted host serves the same stream where the workers reconnect.
type jsRig struct {
	t        *testing.T
	ctx      context.Context
	srv      *relaytest.Server
	secret   string
	plugins  string
	dataDir  string
	natsAddr string
}

func newJSRig(t *testing.T, opts relaytest.Options) *jsRig {
	t.Helper()
	return &jsRig{t: t, ctx: jsCtx(t), srv: connector(t, opts), secret: secretFile(t), plugins: pluginsDir(t, false),
		dataDir: filepath.Join(t.TempDir(), "relay-data"), natsAddr: freeAddr(t)}
}

// args are `relay-host run` with the JetStream agent and extra flags.
func (r *jsRig) args(extra ...string) []string {
	return runArgs(r.srv, r.secret, r.plugins, append([]string{"--agent", "jetstream", "--data-dir", r.dataDir,
		"--nats-listen", r.natsAddr}, extra...)...)
}

// startHost starts relay-host and waits for its handshake.
func (r *jsRig) startHost(extra ...string) *process {
	r.t.Helper()
	dials := r.srv.Dials()
	p := start(r.t, nil, r.args(extra...)...)
	if err := r.srv.WaitHandshake(r.ctx, dials+1); err != nil {
		r.t.Fatalf("the host did not connect: %v\n%s", err, p.stderr.String())
	}
	return p
}

// url is the embedded server's client URL.
func (r *jsRig) url() string { return "nats://" + r.natsAddr }

// tokenFile is the embedded server's generated token file.
func (r *jsRig) tokenFile() string { return filepath.Join(r.dataDir, js.TokenFileName) }

// client connects the test to the embedded server, as a worker would.
func (r *jsRig) client() (*nats.Conn, jetstream.JetStream) {
	r.t.Helper()
	return natsClient(r.t, r.url(), readToken(r.t, r.tokenFile()))
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// natsClient connects to url with token; the connection reconnects for as
// long as the test runs.
func natsClient(t *testing.T, url, token string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Token(token), nats.Name(t.Name()), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.Timeout(js.DialTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	j, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, j
}

// storedEvent is one event in RELAY_EVENTS.
type storedEvent struct {
	seq   uint64
	msgID string
	event map[string]any
}

func (e storedEvent) text() string { s, _ := e.event["text"].(string); return s }

// streamEvents reads every event RELAY_EVENTS holds, oldest first.
func streamEvents(t *testing.T, ctx context.Context, j jetstream.JetStream) ([]storedEvent, jetstream.StreamState) {
	t.Helper()
	s, err := j.Stream(ctx, js.StreamName)
	if err != nil {
		t.Fatalf("stream %s: %v", js.StreamName, err)
	}
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		return nil, st
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []storedEvent
	for len(out) < int(st.Msgs) {
		batch, err := oc.Fetch(int(st.Msgs)-len(out), jetstream.FetchMaxWait(scenarioTimeout))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			e := storedEvent{seq: md.Sequence.Stream, msgID: m.Headers().Get(jetstream.MsgIDHeader)}
			if err := json.Unmarshal(m.Data(), &e.event); err != nil {
				t.Fatalf("event %d is not JSON: %v", e.seq, err)
			}
			out = append(out, e)
		}
		if got == 0 {
			t.Fatalf("read %d of the %d events in the stream", len(out), st.Msgs)
		}
	}
	return out, st
}

// cardsearch is a Discord slash command forward with its own interaction
// id, whose event's text is "/cardsearch <id>".
func cardsearch(t *testing.T, id string) pluginapi.Forward {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(golden(t, lossInteraction), &body); err != nil {
		t.Fatal(err)
	}
	body["id"] = id
	body["data"] = map[string]any{"type": 1, "name": "cardsearch", "id": "771825006014889984",
		"options": []any{map[string]any{"type": 3, "name": "cardname", "value": id}}}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return discordForward(b)
}

// followUpContents returns the contents of the follow_ups the connector
// got, in order.
func followUpContents(srv *relaytest.Server) []string {
	var out []string
	for _, o := range srv.Outbounds() {
		if o.Op() == "follow_up" {
			c, _ := o.Action["content"].(string)
			out = append(out, c)
		}
	}
	return out
}

// waitFollowUps waits until the connector got a follow_up with each of the
// contents.
func waitFollowUps(t *testing.T, ctx context.Context, srv *relaytest.Server, contents []string) {
	t.Helper()
	want := map[string]bool{}
	for _, c := range contents {
		want[c] = true
	}
	left := len(want)
	_, err := srv.WaitFrame(ctx, func(f relaytest.Frame) bool {
		if f.Type == "outbound" && f.Action["op"] == "follow_up" {
			if c, _ := f.Action["content"].(string); want[c] {
				want[c] = false
				left--
			}
		}
		return left == 0
	})
	if err != nil {
		var missing []string
		for c, w := range want {
			if w {
				missing = append(missing, c)
			}
		}
		t.Fatalf("%d of %d follow-ups never came, e.g. %q: %v", len(missing), len(contents), missing[:min(3, len(missing))], err)
	}
}

// workerProc is a jetstream-echo worker process.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

// startWorker starts examples/agents/jetstream-echo for the test gateway.
func startWorker(t *testing.T, url, tokenFile string, extra ...string) *workerProc {
	t.Helper()
	args := append([]string{"--gateway-id", testGatewayID, "--nats-url", url, "--nats-token-file", tokenFile, "-v"}, extra...)
	w := &workerProc{cmd: exec.Command(bins.jsWorker, args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = w.cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker %d stderr:\n%s", w.cmd.Process.Pid, w.stderr.String())
		}
	})
	return w
}

// kill ends the worker with SIGKILL and waits for it.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(scenarioTimeout):
		t.Fatal("worker did not die of SIGKILL")
	}
}

// metric reads one sample of the host's /metrics: the value of the line
// starting with series ("" when absent).
func metric(t *testing.T, listen, series string) string {
	t.Helper()
	_, body := get(t, "http://"+listen+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// agentReadyz reads the host's /readyz: its status and its "agent" key.
func agentReadyz(t *testing.T, listen string) (int, string) {
	t.Helper()
	code, body := get(t, "http://"+listen+"/readyz")
	var v struct {
		Agent string `json:"agent"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("/readyz body is not JSON: %q", body)
	}
	return code, v.Agent
}

// waitReadyz polls /readyz (every 100 ms, up to the context's deadline)
// until it answers code with an agent reason containing reason.
func waitReadyz(t *testing.T, ctx context.Context, listen string, code int, reason string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got, why := agentReadyz(t, listen)
		if got == code && strings.Contains(why, reason) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz = %d %q, want %d with %q", got, why, code, reason)
		case <-tick.C:
		}
	}
}

// TestJetStreamReplayedForwardIsStoredOnce kills the host after JetStream
// acknowledged a forward's event but before its ack reached the connector
// (the connector stops reading the link right after the handshake, so the
// host's inbound_ack is never seen), restarts it, and checks that the
// connector's replay of the forward is acknowledged by JetStream as a
// duplicate and the stream holds the event once: the Msg-Id dedupe.
func TestJetStreamReplayedForwardIsStoredOnce(t *testing.T) {
	t.Parallel()
	r := newJSRig(t, relaytest.Options{})
	r.srv.PlanNext(relaytest.Plan{StallAfterDescriptor: true})
	first := r.startHost()
	buf := r.srv.Enqueue(cardsearch(t, "900000000000000001"))
	if err := first.stderr.waitFor(r.ctx, "event handed off to jetstream", 1); err != nil {
		t.Fatal(err)
	}
	first.signal(t, syscall.SIGKILL)
	first.wait(t)
	if acks := r.srv.Acks(); len(acks) != 0 {
		t.Fatalf("the connector saw acks %v before the host was killed: the scenario needs the ack lost", acks)
	}

	listen := freeAddr(t)
	second := r.startHost("--listen", listen)
	if err := r.srv.WaitAcked(r.ctx, buf); err != nil {
		t.Fatalf("the replayed forward was not acked: %v\n%s", err, second.stderr.String())
	}
	// The log line is written before the ack, but read from the pipe
	// after it may have arrived: wait for it.
	if err := second.stderr.waitFor(r.ctx, "duplicate=true", 1); err != nil {
		t.Errorf("the restarted host's publish of the replay was not a duplicate (%v):\n%s", err, second.stderr.String())
	}
	if got := metric(t, listen, "relay_host_jetstream_publish_duplicates_total"); got != "1" {
		t.Errorf("relay_host_jetstream_publish_duplicates_total = %q, want 1", got)
	}
	_, j := r.client()
	events, st := streamEvents(t, r.ctx, j)
	if len(events) != 1 || st.LastSeq != 1 {
		t.Fatalf("stream holds %d events (last sequence %d), want the one event once", len(events), st.LastSeq)
	}
	// The stored event is the webhook agent's JSON form: the MessageEvent,
	// its event_id, and its destination.
	ev := events[0]
	if ev.msgID != buf+"/0" || ev.event["event_id"] != buf+"/0" || ev.text() != "/cardsearch 900000000000000001" ||
		ev.event["session_key"] != wantSessionKey(t, lossInteraction) || ev.event["destination"] == nil {
		t.Errorf("stored event: msg id %q, %v", ev.msgID, ev.event)
	}
}

// TestJetStreamBacklogWaitsInTheStreamForAWorker runs with no worker: the
// connector's buffer drains anyway (every event is in the stream), the
// stream stays within --nats-max-bytes by dropping its oldest events, and
// a worker started later answers the backlog in order.
func TestJetStreamBacklogWaitsInTheStreamForAWorker(t *testing.T) {
	t.Parallel()
	const forwards = 60
	const maxBytes = 24 << 10 // about 25 events of a slash command
	r := newJSRig(t, relaytest.Options{})
	r.startHost("--nats-max-bytes", "24KiB", "--nats-max-age", "48h", "--nats-dedupe-window", "90s")
	var bufs []string
	for i := range forwards {
		bufs = append(bufs, r.srv.Enqueue(cardsearch(t, fmt.Sprintf("91%016d", i))))
	}
	for _, b := range bufs {
		if err := r.srv.WaitAcked(r.ctx, b); err != nil {
			t.Fatalf("with no worker, forward %s was not acked: %v", b, err)
		}
	}
	_, j := r.client()
	s, err := j.Stream(r.ctx, js.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.MaxBytes != maxBytes || c.MaxAge != 48*time.Hour || c.Duplicates != 90*time.Second || c.Replicas != 1 ||
		c.Storage != jetstream.FileStorage || c.Retention != jetstream.LimitsPolicy {
		t.Errorf("stream made with max bytes %d, max age %s, duplicate window %s, %d replicas, %s, %s; want the flags'",
			c.MaxBytes, c.MaxAge, c.Duplicates, c.Replicas, c.Storage, c.Retention)
	}
	backlog, st := streamEvents(t, r.ctx, j)
	t.Logf("%d forwards acked; the stream holds %d events, %d bytes, sequences %d–%d", forwards, st.Msgs, st.Bytes, st.FirstSeq, st.LastSeq)
	switch {
	case st.LastSeq != forwards:
		t.Fatalf("the stream took %d events, want %d", st.LastSeq, forwards)
	case st.Bytes > maxBytes:
		t.Fatalf("the stream holds %d bytes, more than --nats-max-bytes %d", st.Bytes, maxBytes)
	case len(backlog) == 0 || len(backlog) == forwards:
		t.Fatalf("the stream holds %d of %d events: want the bound to have dropped the oldest", len(backlog), forwards)
	}
	// One worker handling one event at a time answers in stream order.
	startWorker(t, r.url(), r.tokenFile(), "--concurrency", "1")
	var want []string
	for _, e := range backlog {
		want = append(want, "echo: "+e.text())
	}
	waitFollowUps(t, r.ctx, r.srv, want)
	if got := followUpContents(r.srv); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("follow-ups in the order\n%s\nwant the stream's order\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fakeLink is an agent API link that is always up and answers nothing: the
// requests it is used with are refused before they reach it.
type fakeLink struct{}

func (fakeLink) Outbound(context.Context, any, string, string) relay.OutboundResult {
	return relay.OutboundResult{Success: true}
}
func (fakeLink) Interrupt(string, string) error              { return nil }
func (fakeLink) Descriptor(string) (relay.Descriptor, bool)  { return relay.Descriptor{}, false }
func (fakeLink) DefaultDescriptor() (relay.Descriptor, bool) { return relay.Descriptor{}, false }
func (fakeLink) Ready() bool                                 { return true }
func (fakeLink) State() relay.State                          { return relay.StateConnected }

// TestJetStreamBadActionRequestsAnswerJSONErrors sends workers' mistakes to
// the actions and reply subjects: each is answered with a JSON error whose
// "status" is the code POST /v1/actions or /v1/reply answers for the same
// body.
func TestJetStreamBadActionRequestsAnswerJSONErrors(t *testing.T) {
	t.Parallel()
	r := newJSRig(t, relaytest.Options{})
	r.startHost()
	nc, _ := r.client()
	api, err := agentapi.New(agentapi.Config{Link: fakeLink{}})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(agentapi.NewHandler(api, []byte("test-token")))
	defer h.Close()
	for _, tc := range []struct {
		name, subject, path, body string
		wantStatus                int
		wantError                 string
	}{
		{"malformed JSON", js.ActionsSubject(testGatewayID), "/v1/actions", `{"op": "send",`, 400, "body is not JSON"},
		{"not an object", js.ActionsSubject(testGatewayID), "/v1/actions", `[1, 2]`, 400, ""},
		{"unknown op", js.ActionsSubject(testGatewayID), "/v1/actions", `{"op":"frobnicate","chat_id":"1"}`, 400, "frobnicate"},
		{"reply to an unknown event", js.ReplySubject(testGatewayID), "/v1/reply", `{"event_id":"nope/0","content":"hi"}`, 404, "nope/0"},
		{"reply without content", js.ReplySubject(testGatewayID), "/v1/reply", `{"event_id":"nope/0"}`, 400, "content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := nc.Request(tc.subject, []byte(tc.body), scenarioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			var ans map[string]any
			if err := json.Unmarshal(msg.Data, &ans); err != nil {
				t.Fatalf("answer is not JSON: %q", msg.Data)
			}
			errText, _ := ans["error"].(string)
			if ans["success"] != false || ans["status"] != float64(tc.wantStatus) || !strings.Contains(errText, tc.wantError) {
				t.Errorf("answer %s, want success false, status %d, an error naming %q", msg.Data, tc.wantStatus, tc.wantError)
			}
			req, err := http.NewRequest(http.MethodPost, h.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer test-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("POST %s answers %d, the NATS answer says %v", tc.path, resp.StatusCode, ans["status"])
			}
		})
	}
}

// TestJetStreamStartErrors checks what relay-host says when the JetStream
// agent cannot start: each exits 1 naming the cause and what to do.
func TestJetStreamStartErrors(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	secret, plugins := secretFile(t), pluginsDir(t, false)
	down1, down2 := freeAddr(t), freeAddr(t) // nothing listens there
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name  string
		args  []string
		want  []string
		never string
	}{
		{"unreachable --nats-url", []string{"--nats-url", "nats://relay:s3cret-pw@" + down1 + "," + down2},
			[]string{"nats://redacted@" + down1, "nats://" + down2, "connection refused", "check that the servers of --nats-url are up"}, "s3cret-pw"},
		{"malformed --nats-url", []string{"--nats-url", "http://" + down1}, []string{"scheme must be nats", "--nats-url takes nats://host:port"}, ""},
		{"embedded server not on loopback", []string{"--nats-listen", "0.0.0.0:0"}, []string{"0.0.0.0:0", "loopback", "--nats-url"}, ""},
		{"embedded server port in use", []string{"--nats-listen", busy.Addr().String()}, []string{busy.Addr().String(), "--nats-listen 127.0.0.1:0"}, ""},
		{"missing token file", []string{"--nats-token-file", filepath.Join(t.TempDir(), "absent")}, []string{"no such file", "--nats-token-file must name"}, ""},
		{"bad --nats-sync", []string{"--nats-sync", "sometimes"}, []string{`--nats-sync "sometimes"`, `"always"`}, ""},
		{"creds without a cluster", []string{"--nats-creds", "x.creds"}, []string{"--nats-creds is for --nats-url"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := runArgs(srv, secret, plugins, append([]string{"--agent", "jetstream", "--data-dir", t.TempDir(),
				"--nats-listen", "127.0.0.1:0"}, tc.args...)...)
			res := relayHost(t, "", args...)
			if res.code != exitFailure {
				t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, exitFailure, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if tc.never != "" && strings.Contains(res.stderr, tc.never) {
				t.Errorf("stderr shows the secret %q:\n%s", tc.never, res.stderr)
			}
		})
	}
	// A size the flag cannot read is a usage error.
	if res := relayHost(t, "", runArgs(srv, secret, plugins, "--agent", "jetstream", "--nats-max-bytes", "1XB")...); res.code != exitUsage ||
		!strings.Contains(res.stderr, "nats-max-bytes") {
		t.Errorf("--nats-max-bytes 1XB: exit %d, stderr %q; want %d naming the flag", res.code, res.stderr, exitUsage)
	}
}

// natsNode is a nats-server with JetStream run by the test, as an operator
// would run one for --nats-url.
type natsNode struct {
	t    *testing.T
	opts *server.Options
	srv  *server.Server
}

// startNATS starts a single nats-server with JetStream and token auth on a
// free loopback port.
func startNATS(t *testing.T, token string) *natsNode {
	t.Helper()
	n := &natsNode{t: t, opts: &server.Options{ServerName: "test-node", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		Authorization: token, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	n.start()
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port // the same port after a restart
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) start() {
	n.t.Helper()
	s, err := server.NewServer(n.opts)
	if err != nil {
		n.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(jsWait) {
		n.t.Fatal("nats-server not ready")
	}
	n.srv = s
}

func (n *natsNode) stop() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// TestJetStreamClusterOutageLeavesForwardsUnackedThenRecovers runs
// relay-host against a NATS server of its own (--nats-url), stops the
// server at run time and starts it again: meanwhile forwards stay un-acked
// and /readyz says why; afterwards new forwards are acked at once, the
// connector's replay of the others is too, and each event is stored once.
func TestJetStreamClusterOutageLeavesForwardsUnackedThenRecovers(t *testing.T) {
	t.Parallel()
	const token = "outage-test-token"
	node := startNATS(t, token)
	tokenFile := filepath.Join(t.TempDir(), "nats.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newJSRig(t, relaytest.Options{})
	listen := freeAddr(t)
	host := r.startHost("--nats-url", node.url(), "--nats-token-file", tokenFile, "--listen", listen)
	ctx := r.ctx

	before := r.srv.Enqueue(cardsearch(t, "920000000000000001"))
	if err := r.srv.WaitAcked(ctx, before); err != nil {
		t.Fatal(err)
	}
	if code, why := agentReadyz(t, listen); code != http.StatusOK || why != "jetstream: ok" {
		t.Fatalf("/readyz = %d %q with NATS up, want 200 \"jetstream: ok\"", code, why)
	}

	node.stop()
	waitReadyz(t, ctx, listen, http.StatusServiceUnavailable, "jetstream: ")
	const unacked = "forward left un-acknowledged for redelivery"
	during := r.srv.Enqueue(cardsearch(t, "920000000000000002"))
	if err := host.stderr.waitFor(ctx, unacked, 1); err != nil {
		t.Fatal(err)
	}
	if acks := r.srv.Acks(); len(acks) != 1 {
		t.Fatalf("acks %v while NATS is down, want only the forward from before", acks)
	}
	if n := metric(t, listen, `relay_host_jetstream_publish_failures_total{cause="unavailable"}`) +
		metric(t, listen, `relay_host_jetstream_publish_failures_total{cause="timeout"}`); n == "" {
		t.Errorf("no publish failure counted")
	}

	node.start()
	waitReadyz(t, ctx, listen, http.StatusOK, "jetstream: ok")
	after := r.srv.Enqueue(cardsearch(t, "920000000000000003"))
	if err := r.srv.WaitAcked(ctx, after); err != nil {
		t.Fatalf("a forward after NATS came back was not acked: %v", err)
	}
	// The un-acked forward is the connector's to replay: on the next
	// connection.
	dials := r.srv.Dials()
	if err := r.srv.CloseConn(1012, "replay"); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.WaitHandshake(ctx, dials+1); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.WaitAcked(ctx, during); err != nil {
		t.Fatalf("the forward refused during the outage was not acked on its replay: %v", err)
	}
	_, j := natsClient(t, node.url(), token)
	events, _ := streamEvents(t, ctx, j)
	got := map[string]int{}
	for _, e := range events {
		got[e.msgID]++
	}
	for _, b := range []string{before, during, after} {
		if got[b+"/0"] != 1 {
			t.Errorf("event %s/0 stored %d times, want once (stream: %v)", b, got[b+"/0"], got)
		}
	}
}

// helpJetStreamFlags are the JetStream agent's flags and their environment
// twins, as run and dev document them.
var helpJetStreamFlags = map[string]string{
	"--data-dir": "RELAY_DATA_DIR", "--nats-listen": "RELAY_NATS_LISTEN", "--nats-url": "RELAY_NATS_URL",
	"--nats-creds": "RELAY_NATS_CREDS", "--nats-token-file": "RELAY_NATS_TOKEN_FILE", "--nats-replicas": "RELAY_NATS_REPLICAS",
	"--nats-max-bytes": "RELAY_NATS_MAX_BYTES", "--nats-max-age": "RELAY_NATS_MAX_AGE",
	"--nats-dedupe-window": "RELAY_NATS_DEDUPE_WINDOW", "--nats-sync": "RELAY_NATS_SYNC",
}

// TestJetStreamFlagsAreDocumentedWithTheirDefaults checks the help of run
// and dev: every flag with its environment twin, and the defaults.
func TestJetStreamFlagsAreDocumentedWithTheirDefaults(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"run", "dev"} {
		res := relayHost(t, "", cmd, "--help")
		if res.code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, res.code)
		}
		lines := strings.Split(res.stdout, "\n")
		for flagName, envName := range helpJetStreamFlags {
			found := false
			for i, l := range lines {
				if strings.HasPrefix(strings.TrimSpace(l), flagName+" ") || strings.TrimSpace(l) == flagName {
					found = i+1 < len(lines) && strings.Contains(lines[i+1], "[$"+envName+"]")
				}
			}
			if !found {
				t.Errorf("%s --help does not document %s with $%s", cmd, flagName, envName)
			}
		}
		for _, def := range []string{"(default 1GiB)", "(default 168h)", "(default 2m)", "(default " + js.DefaultListen + ")"} {
			if !strings.Contains(res.stdout, def) {
				t.Errorf("%s --help lacks %q", cmd, def)
			}
		}
	}
	// The environment twin sets the value.
	srv := connector(t, relaytest.Options{})
	res := relayHostEnv(t, []string{"RELAY_NATS_MAX_BYTES=lots"}, runArgs(srv, secretFile(t), pluginsDir(t, false), "--agent", "jetstream")...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "$RELAY_NATS_MAX_BYTES") {
		t.Errorf("RELAY_NATS_MAX_BYTES=lots: exit %d, stderr %q", res.code, res.stderr)
	}
}

// relayHostEnv is relayHost with extra environment variables.
func relayHostEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t), bins.relayHost, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDevJetStreamEchoesThroughTheStream runs `relay-host dev --agent
// jetstream --demo`: the embedded server in a temporary data dir, the
// in-process echo worker answering every sample, the banner with the
// subjects, the token file and nats CLI lines; the data dir is removed at
// exit.
func TestDevJetStreamEchoesThroughTheStream(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"NO_COLOR=1", "RELAY_LOG_LEVEL=warn"}, "dev", "--demo", "--agent", "jetstream",
		"--addr", "127.0.0.1:0", "--agent-api", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	ctx := jsCtx(t)
	var lines []string
	for done := false; !done; {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("relay-host exited before the demo's summary:\n%s\n%s", strings.Join(lines, "\n"), p.stderr.String())
			}
			lines = append(lines, line)
			done = strings.HasPrefix(line, "Demo done:")
		case <-ctx.Done():
			t.Fatalf("no demo summary:\n%s", strings.Join(lines, "\n"))
		}
	}
	out := strings.Join(lines, "\n")
	if !strings.Contains(lines[len(lines)-1], "4 follow-ups matched") {
		t.Errorf("summary %q, want the echo worker's 4 follow-ups matched", lines[len(lines)-1])
	}
	gw := ""
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "(gateway "); ok {
			gw, _, _ = strings.Cut(rest, ")")
			break
		}
	}
	dataDir := ""
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "data dir"); ok {
			dataDir, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
		}
	}
	for _, want := range []string{
		"relay.v1.events." + gw + ".<platform> on stream RELAY_EVENTS",
		"relay.v1.reply." + gw + ", relay.v1.actions." + gw,
		"token file          " + filepath.Join(dataDir, js.TokenFileName),
		"in-process echo worker",
		"stream view RELAY_EVENTS",
		"sub 'relay.v1.events." + gw + ".>'",
		"temporary: removed at exit",
		"jetstream agent stored",
	} {
		if gw == "" || dataDir == "" || !strings.Contains(out, want) {
			t.Errorf("dev output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, js.TokenFileName)); err != nil {
		t.Errorf("token file: %v", err)
	}
	p.signal(t, syscall.SIGINT)
	for range p.lines {
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGINT:\n%s", code, p.stderr.String())
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("temporary data dir %s still there after exit: %v", dataDir, err)
	}
}

// parseCount reads a metric sample as an integer (0 when absent).
func parseCount(s string) int {
	f, _ := strconv.ParseFloat(s, 64)
	return int(f)
}

// TestJetStreamRepliesReachEventsTheHostDidNotPublish checks the replies to
// events in the stream that the running host did not deliver itself: one
// published before a restart is answered because the host re-learns the
// stream's recent events at start; one it never saw (published by another
// process after its start) is answered once the worker names the event's
// stream sequence, and only then.
func TestJetStreamRepliesReachEventsTheHostDidNotPublish(t *testing.T) {
	t.Parallel()
	r := newJSRig(t, relaytest.Options{})
	first := r.startHost()
	buf := r.srv.Enqueue(cardsearch(t, "930000000000000001"))
	if err := r.srv.WaitAcked(r.ctx, buf); err != nil {
		t.Fatal(err)
	}
	first.signal(t, syscall.SIGTERM)
	if code := first.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	second := r.startHost()
	if err := second.stderr.waitFor(r.ctx, "re-learned the events in the stream", 1); err != nil {
		t.Fatal(err)
	}
	nc, j := r.client()
	reply := func(eventID, content string, header nats.Header) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"event_id": eventID, "content": content})
		m, err := nc.RequestMsg(&nats.Msg{Subject: js.ReplySubject(testGatewayID), Data: body, Header: header}, scenarioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		var ans map[string]any
		if err := json.Unmarshal(m.Data, &ans); err != nil {
			t.Fatalf("answer %q", m.Data)
		}
		return ans
	}
	if ans := reply(buf+"/0", "reply after a restart", nil); ans["status"] != float64(200) {
		t.Fatalf("reply to an event published before the restart: %v", ans)
	}

	// An event this host never saw, in the stream after its start.
	events, _ := streamEvents(t, r.ctx, j)
	stranger := events[0].event
	stranger["event_id"] = "test:stranger/0"
	data, _ := json.Marshal(stranger)
	pa, err := j.PublishMsg(r.ctx, &nats.Msg{Subject: js.EventSubject(testGatewayID, "discord"), Data: data,
		Header: nats.Header{jetstream.MsgIDHeader: []string{"test:stranger/0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ans := reply("test:stranger/0", "reply without a sequence", nil); ans["status"] != float64(404) {
		t.Fatalf("reply to an unknown event without its sequence: %v, want 404", ans)
	}
	seq := nats.Header{js.SequenceHeader: []string{strconv.FormatUint(pa.Sequence, 10)}}
	if ans := reply("test:stranger/0", "reply with its sequence", seq); ans["status"] != float64(200) {
		t.Fatalf("reply naming the event's stream sequence: %v, want 200", ans)
	}
	waitFollowUps(t, r.ctx, r.srv, []string{"reply after a restart", "reply with its sequence"})
	if n := followUpCount(r.srv, "reply without a sequence"); n != 0 {
		t.Errorf("the reply answered 404 went out %d times", n)
	}
}
