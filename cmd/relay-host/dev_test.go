package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host"
	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/edge"
	"github.com/relayhost/relay-host/pluginapi"
)

// devTestWait bounds each wait in the dev tests: everything here takes
// milliseconds on loopback unless something is broken.
const devTestWait = 30 * time.Second

var devTestIdentities = identitiesFlag{{Platform: "discord", BotID: "dev-bot"}, {Platform: "twilio", BotID: "dev-number"}}

// devRig is the dev mode assembled in-process: the edge and a devLog that
// keeps everything the edge and the host report; gateways (runGateway with
// the real bundled plugins and the echo agent) come and go on it.
type devRig struct {
	t    *testing.T
	edge *edge.Edge
	log  *devLog
	out  *lockedBuffer // the printed story and the gateways' logs
}

func newDevRig(t *testing.T, keys ...ed25519.PublicKey) *devRig {
	t.Helper()
	r := &devRig{t: t, out: &lockedBuffer{}}
	r.log = newDevLog(r.out, false, agent.NameEcho)
	r.log.setRetain(true)
	e, err := edge.Start(edge.Config{GatewayID: testGatewayID, Secret: testSecret, Identities: devTestIdentities,
		PublicKeys: keys, OnEvent: r.log.edgeEvent})
	if err != nil {
		t.Fatal(err)
	}
	r.edge = e
	t.Cleanup(func() {
		e.Close()
		if t.Failed() {
			t.Logf("dev output:\n%s", r.out.String())
		}
	})
	return r
}

// startGateway runs a gateway against the edge and waits until it has
// connected; stop shuts it down the way Ctrl-C does and checks it ended
// cleanly.
func (r *devRig) startGateway() (stop func()) {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := hclog.New(&hclog.LoggerOptions{Name: "relay-host", Level: hclog.Warn, Output: r.out})
	conns := r.edge.Connector().Dials()
	go func() {
		done <- runGateway(ctx, gatewayConfig{connector: r.edge.URL(), gatewayID: testGatewayID, secret: testSecret,
			identities: devTestIdentities, pluginsDir: bins.plugins, agent: agent.Echo{}, logger: logger, trace: r.log.step})
	}()
	wctx, wcancel := context.WithTimeout(r.t.Context(), devTestWait)
	defer wcancel()
	if err := r.edge.Connector().WaitHandshake(wctx, conns+1); err != nil {
		cancel()
		r.t.Fatalf("gateway did not connect: %v (gateway: %v)", err, <-done)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("gateway ended with %v, want a clean shutdown", err)
			}
		case <-time.After(devTestWait):
			r.t.Fatal("gateway did not shut down")
		}
	}
	r.t.Cleanup(stop)
	return stop
}

// post sends a request to the edge and returns the status, content type
// and body.
func (r *devRig) post(url, contentType string, body []byte, header map[string]string) (int, string, string) {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// postInteraction posts a Discord interaction and checks the edge's answer.
func (r *devRig) postInteraction(body []byte, header map[string]string, wantStatus int, wantBody string) {
	r.t.Helper()
	status, _, got := r.post(r.edge.DiscordURL("dev-bot"), "application/json", body, header)
	if status != wantStatus || got != wantBody {
		r.t.Fatalf("edge answered %d %q, want %d %q", status, got, wantStatus, wantBody)
	}
}

// waitItems waits until done holds for everything logged so far.
func (r *devRig) waitItems(what string, done func(items []any) bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), devTestWait)
	defer cancel()
	if err := r.log.wait(ctx, 0, done); err != nil {
		r.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitFollowUp waits for the follow-up that answers interaction id.
func (r *devRig) waitFollowUp(id string) edge.FollowUp {
	r.t.Helper()
	var fu edge.FollowUp
	r.waitItems("the follow-up for interaction "+id, func(items []any) bool {
		for _, it := range items {
			if x, ok := it.(edge.FollowUp); ok && x.InteractionID == id {
				fu = x
				return true
			}
		}
		return false
	})
	return fu
}

// collect returns every logged item of type T.
func collect[T any](r *devRig) []T {
	var out []T
	r.waitItems("a look at the log", func(items []any) bool {
		for _, it := range items {
			if x, ok := it.(T); ok {
				out = append(out, x)
			}
		}
		return true
	})
	return out
}

// pluginSteps returns the plugin stages the host reported.
func pluginSteps(r *devRig) []host.Step {
	var out []host.Step
	for _, s := range collect[host.Step](r) {
		if s.Stage == host.StagePlugin {
			out = append(out, s)
		}
	}
	return out
}

// devSlash is a guild slash command from user, with its own interaction id
// and token.
func devSlash(id, user string) []byte {
	return fmt.Appendf(nil, `{"type":2,"id":%q,"token":"tok-%s","application_id":"dev-bot","channel_id":"chan-1","guild_id":"guild-1",`+
		`"member":{"user":{"id":%q,"username":"u"}},"data":{"name":"ask","options":[{"type":3,"name":"q","value":"hi from %s"}]}}`, id, id, user, id)
}

func devSession(user string) string { return "agent:main:discord:group:chan-1:" + user }

func signedHeaders(key ed25519.PrivateKey, body []byte) map[string]string {
	ts := fmt.Sprint(time.Now().Unix())
	return map[string]string{edge.HeaderTimestamp: ts, edge.HeaderSignature: edge.Sign(key, ts, body)}
}

func TestDevInteractionIsDeferredAndFollowedUpWithItsSession(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		keys []ed25519.PublicKey
		sign bool
	}{
		{"signed, with a public key configured", []ed25519.PublicKey{pub}, true},
		{"unsigned, allowed when no key is configured", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newDevRig(t, c.keys...)
			r.startGateway()
			body := devSlash("2001", "user-1")
			var h map[string]string
			if c.sign {
				h = signedHeaders(priv, body)
			}
			r.postInteraction(body, h, 200, `{"type":5}`)
			fu := r.waitFollowUp("2001")
			if !fu.Matched || fu.Session != devSession("user-1") || fu.Content != "echo: /ask hi from 2001" {
				t.Fatalf("follow-up = %+v, want matched for %s with the echo", fu, devSession("user-1"))
			}
			steps := pluginSteps(r)
			if len(steps) != 1 || steps[0].Result.Disposition != pluginapi.Handled || steps[0].Result.Events[0].SessionKey != fu.Session {
				t.Fatalf("plugin steps = %+v", steps)
			}
			if bytes.Contains(steps[0].Forward.Body, []byte("tok-2001")) {
				t.Fatal("the token reached the host")
			}
			if rec := collect[edge.Received](r); len(rec) != 1 || rec[0].Signed != c.sign {
				t.Fatalf("received = %+v, want one with Signed=%v", rec, c.sign)
			}
			if strings.Contains(r.out.String(), "tok-2001") {
				t.Fatal("the token was printed")
			}
		})
	}
}

func TestDevBadSignatureIsRefusedAndNothingForwarded(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	r := newDevRig(t, pub)
	r.startGateway()
	body := devSlash("3001", "user-1")
	r.postInteraction(body, signedHeaders(other, body), 401, "invalid request signature\n")
	r.postInteraction(body, nil, 401, "invalid request signature\n")
	if p := r.edge.Connector().Pending(); len(p) != 0 {
		t.Fatalf("refused interactions were buffered: %v", p)
	}
	// A good interaction after them is the only thing that goes through.
	good := devSlash("3002", "user-2")
	r.postInteraction(good, signedHeaders(priv, good), 200, `{"type":5}`)
	r.waitFollowUp("3002")
	r.log.flush()
	if n := len(pluginSteps(r)); n != 1 {
		t.Fatalf("%d forwards reached the plugin, want only the signed one", n)
	}
	if n := len(collect[edge.Refused](r)); n != 2 {
		t.Fatalf("%d refusals reported, want 2", n)
	}
	if n := len(collect[edge.FollowUp](r)) + len(collect[edge.Sent](r)) + len(collect[edge.Outbound](r)); n != 1 {
		t.Fatalf("%d outbound requests, want the one follow-up", n)
	}
}

func TestDevPingIsAnsweredPongWithoutForward(t *testing.T) {
	t.Parallel()
	r := newDevRig(t)
	r.startGateway()
	r.postInteraction([]byte(`{"type":1,"id":"4001","token":"tok-ping","application_id":"dev-bot"}`), nil, 200, `{"type":1}`)
	if p := r.edge.Connector().Pending(); len(p) != 0 {
		t.Fatalf("a PING was buffered: %v", p)
	}
	r.postInteraction(devSlash("4002", "user-1"), nil, 200, `{"type":5}`)
	r.waitFollowUp("4002")
	if steps := pluginSteps(r); len(steps) != 1 || bytes.Contains(steps[0].Forward.Body, []byte(`"type":1`)) {
		t.Fatalf("plugin steps = %d, want only the slash command", len(steps))
	}
	if n := r.edge.Vaulted(); n != 1 {
		t.Fatalf("%d tokens vaulted, want 1 (a PING's token is never kept)", n)
	}
}

func TestDevTwilioWebhookIsAnsweredAndDroppedByTheStub(t *testing.T) {
	t.Parallel()
	r := newDevRig(t)
	r.startGateway()
	status, ctype, body := r.post(r.edge.TwilioURL("dev-number"), "application/x-www-form-urlencoded",
		[]byte("MessageSid=SM5001&From=%2B15555550100&To=%2B15555550199&Body=hello"), nil)
	if status != 200 || ctype != "text/xml" || body != edge.TwiML {
		t.Fatalf("edge answered %d %q %q, want 200 text/xml %s", status, ctype, body, edge.TwiML)
	}
	var bufferID string
	r.waitItems("the Twilio forward to be settled", func(items []any) bool {
		o := readOutcome(items)
		bufferID = o.bufferID
		return o.complete()
	})
	steps := pluginSteps(r)
	if len(steps) != 1 || steps[0].Forward.Platform != "twilio" || steps[0].Result.Disposition != pluginapi.Dropped {
		t.Fatalf("plugin steps = %+v, want the twilio stub's drop", steps)
	}
	// An interaction after it is answered; the SMS never is.
	r.postInteraction(devSlash("5002", "user-1"), nil, 200, `{"type":5}`)
	r.waitFollowUp("5002")
	if out := collect[edge.FollowUp](r); len(out) != 1 || out[0].Session != devSession("user-1") ||
		len(collect[edge.Sent](r))+len(collect[edge.Outbound](r)) != 0 {
		t.Fatalf("follow-ups = %+v, want only the interaction's, and no other outbound request", out)
	}
	if acks := collect[edge.Acked](r); len(acks) != 2 || acks[0].BufferID != bufferID {
		t.Fatalf("acks = %v, want the SMS's %s first", acks, bufferID)
	}
}

func TestDevHostRestartBuffersAndAnswersEachInteractionOnce(t *testing.T) {
	t.Parallel()
	r := newDevRig(t)
	conn := r.edge.Connector()
	stop1 := r.startGateway()
	r.postInteraction(devSlash("6001", "user-a"), nil, 200, `{"type":5}`)
	r.waitFollowUp("6001")

	// One interaction arrives while the host shuts down; it is either
	// served by the old host during its drain or buffered for the new one.
	during := make(chan struct{})
	go func() {
		defer close(during)
		body := devSlash("6002", "user-b")
		req, _ := http.NewRequest(http.MethodPost, r.edge.DiscordURL("dev-bot"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	stop1()
	<-during

	// Three more while no host is connected: the edge keeps answering.
	for _, id := range []string{"6003", "6004", "6005"} {
		r.postInteraction(devSlash(id, "user-"+id), nil, 200, `{"type":5}`)
	}
	// The edge answers before it hands the forward over; wait for that.
	r.waitItems("the three forwards to be buffered", func(items []any) bool {
		n := 0
		for _, it := range items {
			if b, ok := it.(edge.Buffered); ok && b.ID >= "6003" {
				n++
			}
		}
		return n == 3
	})
	pending := conn.Pending()
	if len(pending) < 3 {
		t.Fatalf("pending = %v, want the 3 interactions that arrived with no host", pending)
	}

	stop2 := r.startGateway()
	r.waitItems("the buffered forwards to be acked", func(items []any) bool {
		acked := map[string]bool{}
		for _, it := range items {
			if a, ok := it.(edge.Acked); ok {
				acked[a.BufferID] = true
			}
		}
		for _, id := range pending {
			if !acked[id] {
				return false
			}
		}
		return true
	})
	for _, id := range []string{"6002", "6003", "6004", "6005"} {
		r.waitFollowUp(id)
	}
	// Stop the host before counting, so nothing more can arrive.
	stop2()

	if p := conn.Pending(); len(p) != 0 {
		t.Fatalf("still buffered after the restart: %v", p)
	}
	ackCount := map[string]int{}
	acks := collect[edge.Acked](r)
	for _, a := range acks {
		ackCount[a.BufferID]++
	}
	runs := map[string]int{}
	for _, s := range pluginSteps(r) {
		runs[s.Forward.BufferID]++
	}
	for id, n := range ackCount {
		if n != 1 || runs[id] != 1 {
			t.Errorf("forward %s: acked %d times, run %d times; want once each", id, n, runs[id])
		}
	}
	if len(ackCount) != 5 {
		t.Errorf("%d forwards acked, want 5: %v", len(ackCount), acks)
	}
	answered := map[string]int{}
	for _, fu := range collect[edge.FollowUp](r) {
		if !fu.Matched {
			t.Errorf("unmatched follow-up: %s", fu)
		}
		answered[fu.InteractionID]++
	}
	for _, id := range []string{"6001", "6002", "6003", "6004", "6005"} {
		if answered[id] != 1 {
			t.Errorf("interaction %s followed up %d times, want exactly once", id, answered[id])
		}
	}
}

func TestDevAddrInUseSaysHowToPickAnother(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	env := &environment{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: func(string) string { return "" }, executable: func() (string, error) { return bins.relayHost, nil }}
	code := runMain(t.Context(), env, []string{"dev", "--addr", ln.Addr().String(), "--agent-api", "127.0.0.1:0"})
	if code != exitFailure || !strings.Contains(stderr.String(), "already in use") || !strings.Contains(stderr.String(), "--addr 127.0.0.1:0") {
		t.Fatalf("exit %d, stderr %q; want 1 and advice to use --addr 127.0.0.1:0", code, stderr.String())
	}
}

// TestDevDemoRunsEverySampleThenStopsCleanly runs `relay-host dev --demo`
// as a real process with the plugins beside it, checks that every sample's
// story is printed in order, then interrupts it.
func TestDevDemoRunsEverySampleThenStopsCleanly(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"NO_COLOR=1", "RELAY_LOG_LEVEL=warn"}, "dev", "--demo", "--addr", "127.0.0.1:0", "--agent-api", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), devTestWait)
	defer cancel()
	var lines []string
	summary := regexp.MustCompile(`^Demo done: 9 samples, 10 follow-ups matched, 5 other actions \(edit ×2, typing ×2, prompt\), 1 dropped by the plugin \(no reply\), in \S+ \(\S+ since start\)$`)
	for done := false; !done; {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("relay-host exited before the summary; output:\n%s", strings.Join(lines, "\n"))
			}
			lines = append(lines, line)
			if strings.HasPrefix(line, "Demo done:") {
				if !summary.MatchString(line) {
					t.Fatalf("summary line %q does not match %s", line, summary)
				}
				done = true
			}
		case <-ctx.Done():
			t.Fatalf("no summary line; output so far:\n%s", strings.Join(lines, "\n"))
		}
	}
	t.Log(lines[len(lines)-1])
	plugins := children(p.cmd.Process.Pid)
	if len(plugins) < 2 {
		t.Fatalf("found %d child processes of relay-host, want the discord and twilio plugins", len(plugins))
	}

	checkDemoStory(t, lines)

	p.signal(t, syscall.SIGINT)
	var rest []string
	for line := range p.lines {
		rest = append(rest, line)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0; output after the demo:\n%s", code, strings.Join(rest, "\n"))
	}
	if len(rest) == 0 || rest[len(rest)-1] != "Stopped." {
		t.Errorf("output after SIGINT = %q, want it to end with Stopped.", rest)
	}
	awaitGone(t, plugins)
}

// checkDemoStory checks that each sample printed every step, in order, and
// that the agent API samples show their actions.
func checkDemoStory(t *testing.T, lines []string) {
	t.Helper()
	header := regexp.MustCompile(`^\[(\d)/9\] `)
	blocks := map[string][]string{}
	cur := ""
	for _, l := range lines {
		if m := header.FindStringSubmatch(l); m != nil {
			cur = m[1]
			continue
		}
		if cur != "" && strings.HasPrefix(l, "  ") {
			blocks[cur] = append(blocks[cur], strings.TrimSpace(l))
		}
	}
	story := "received answered forwarded plugin "
	want := map[string]string{
		"1": story + "agent acked follow-up",
		"2": story + "agent acked follow-up",
		"3": story + "agent acked follow-up",
		"4": story + "agent acked follow-up",
		"5": story + "acked",
		"6": story + "follow-up edit edit agent acked",
		"7": story + "typing typing agent acked follow-up",
		"8": story + "prompt agent acked follow-up the " + story + "agent acked follow-up",
		"9": story + "agent acked follow-up follow-up answer",
	}
	for i := 1; i <= 9; i++ {
		n := fmt.Sprint(i)
		var labels []string
		for _, l := range blocks[n] {
			labels = append(labels, strings.Fields(l)[0])
		}
		if strings.Join(labels, " ") != want[n] {
			t.Errorf("sample %s printed steps %v, want %v:\n%s", n, labels, want[n], strings.Join(blocks[n], "\n"))
			continue
		}
		b := blocks[n]
		last := b[len(b)-1]
		switch {
		case i < 5 && !strings.Contains(last, "matched interaction 130000000000000000"+n):
			t.Errorf("sample %s: follow-up line %q does not match its interaction", n, last)
		case i == 5 && !strings.Contains(b[3], "dropped"):
			t.Errorf("sample 5: plugin line %q, want the twilio drop", b[3])
		case i == 6 && (!strings.Contains(b[4], "matched interaction 1300000000000000006: Counting: 1") ||
			!strings.HasSuffix(b[6], "Counting: 1 2 3 → ok")):
			t.Errorf("sample 6: the reply and its edits are %q, %q", b[4], b[6])
		case i == 7 && (!strings.Contains(b[4], "typing in chat 1200000000000000001 → ok") || !strings.Contains(b[8], "matched interaction 1300000000000000007")):
			t.Errorf("sample 7: %q, %q", b[4], b[8])
		case i == 8 && !checkPromptStory(b):
			t.Errorf("sample 8: the prompt, its press and the answer do not line up:\n%s", strings.Join(b, "\n"))
		case i == 9 && (!strings.Contains(b[6], "chars)") || !strings.Contains(b[7], "matched interaction 1300000000000000009 (again)") ||
			!strings.Contains(b[8], "reply went out as 2 messages")):
			t.Errorf("sample 9: the reply is not split in two:\n%s", strings.Join(b, "\n"))
		}
	}
}

// checkPromptStory checks sample 8: the prompt the agent sent carries a
// minted id, the demo presses its button, and the press reaches the agent
// as the prompt's answer and is followed up.
func checkPromptStory(b []string) bool {
	m := regexp.MustCompile(`^prompt +prompt ([0-9a-f]{6}\.[0-9a-f]{8}) in chat 1200000000000000001: "Deploy web to production\?" \[approve: Approve\] \[deny: Deny\] → (dev-msg-\d+)$`).FindStringSubmatch(b[4])
	return m != nil &&
		strings.Contains(b[7], "matched interaction 1300000000000000008: Waiting for approval (prompt "+m[1]+").") &&
		b[8] == "the demo presses [Approve] on prompt "+m[1]+" (message "+m[2]+")" &&
		strings.Contains(b[12], `command "/approve"`) &&
		strings.Contains(b[13], `dev agent replied "Approved: deploying web to production."`) &&
		strings.Contains(b[15], "matched interaction 1300000000000000010: Approved")
}
