package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// hookAgent is a webhook agent on loopback: it keeps every event and
// interrupt notice relay-host POSTs, and answers each event with what
// answer says (200 {} by default).
type hookAgent struct {
	srv *httptest.Server

	mu      sync.Mutex
	events  []map[string]any
	notices []map[string]any
	answer  func(ev map[string]any) (status int, body string)
	changed notify.Signal
}

func newHookAgent(t *testing.T) *hookAgent {
	t.Helper()
	a := &hookAgent{}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *hookAgent) serve(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	answer := a.answer
	if m["type"] == "interrupt" {
		a.notices = append(a.notices, m)
		answer = nil
	} else {
		a.events = append(a.events, m)
	}
	a.mu.Unlock()
	a.changed.Notify()
	status, body := http.StatusOK, "{}"
	if answer != nil && m["type"] != "interrupt" {
		status, body = answer(m)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// setAnswer sets how events are answered from now on.
func (a *hookAgent) setAnswer(f func(ev map[string]any) (int, string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answer = f
}

// waitEvent returns the first event for which match holds, waiting for it.
func (a *hookAgent) waitEvent(t *testing.T, what string, match func(ev map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	err := a.changed.Wait(testCtx(t), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, ev := range a.events {
			if match(ev) {
				found = ev
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("the agent never got %s: %v", what, err)
	}
	return found
}

// waitNotice returns the first interrupt notice, waiting for it.
func (a *hookAgent) waitNotice(t *testing.T) map[string]any {
	t.Helper()
	var found map[string]any
	err := a.changed.Wait(testCtx(t), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(a.notices) > 0 {
			found = a.notices[0]
		}
		return found != nil
	})
	if err != nil {
		t.Fatalf("the agent got no interrupt notice: %v", err)
	}
	return found
}

// eventsWith returns the events whose text is text.
func (a *hookAgent) eventsWith(text string) []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []map[string]any
	for _, ev := range a.events {
		if ev["text"] == text {
			out = append(out, ev)
		}
	}
	return out
}

// apiRig is `relay-host run` against the test connector, with the agent
// API on loopback and a webhook agent (or the echo agent) on loopback.
type apiRig struct {
	t       *testing.T
	srv     *relaytest.Server
	p       *process
	agent   *hookAgent
	api     string // http://host:port
	token   string
	listen  string // --listen (metrics)
	client  *http.Client
	mu      sync.Mutex
	answers []string // every agent API answer body, for the secret checks
}

// rigOptions tune a rig.
type rigOptions struct {
	echo      bool // the echo agent instead of the webhook agent
	connector relaytest.Options
	args      []string // more run flags
}

func startAPIRig(t *testing.T, o rigOptions) *apiRig {
	t.Helper()
	o.connector.Answers = true
	r := &apiRig{t: t, srv: connector(t, o.connector), agent: newHookAgent(t), listen: freeAddr(t),
		client: &http.Client{Timeout: scenarioTimeout, Transport: &http.Transport{}}}
	t.Cleanup(r.client.CloseIdleConnections)
	tok := make([]byte, 16)
	if _, err := io.ReadFull(bytesReader(t.Name()), tok); err != nil {
		t.Fatal(err)
	}
	r.token = "tok-" + hex.EncodeToString(tok)
	tokenFile := filepath.Join(t.TempDir(), "agent-api-token")
	if err := os.WriteFile(tokenFile, []byte(r.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiAddr := freeAddr(t)
	r.api = "http://" + apiAddr
	agentArgs := []string{"--agent", "webhook", "--agent-url", r.agent.srv.URL}
	if o.echo {
		agentArgs = []string{"--agent", "echo"}
	}
	args := runArgs(r.srv, secretFile(t), pluginsDir(t, false), append(append(agentArgs,
		"--agent-api", apiAddr, "--agent-api-token-file", tokenFile, "--listen", r.listen), o.args...)...)
	r.p = start(t, nil, args...)
	ctx := testCtx(t)
	// Both identities' descriptors: "relay connected" follows the first,
	// a "relay descriptor" line the second.
	for _, line := range []string{"serving the agent API", "relay connected", "relay descriptor"} {
		if err := r.p.stderr.waitFor(ctx, line, 1); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { r.checkNoSecrets() })
	return r
}

// bytesReader is a deterministic byte source for a test's token, so a
// failing run can be repeated.
func bytesReader(seed string) io.Reader {
	return strings.NewReader(strings.Repeat(seed+"-token-seed", 4))
}

// do sends one request to the agent API with the rig's token (auth "" is
// the default bearer; "-" sends no Authorization).
func (r *apiRig) do(method, path, auth string, body []byte, header map[string]string) (int, map[string]any, http.Header) {
	r.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(r.t), method, r.api+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	switch auth {
	case "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	case "-":
	default:
		req.Header.Set("Authorization", auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	r.mu.Lock()
	r.answers = append(r.answers, string(data))
	r.mu.Unlock()
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &m); err != nil {
			r.t.Fatalf("%s %s answered %d with bad JSON %q", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// post sends a JSON body to an agent API endpoint.
func (r *apiRig) post(path, body string) (int, map[string]any) {
	r.t.Helper()
	status, m, _ := r.do(http.MethodPost, path, "", []byte(body), nil)
	return status, m
}

// outbounds returns the outbound frames the connector received since
// index from.
func (r *apiRig) outboundsFrom(from int) []relaytest.OutboundFrame {
	return r.srv.Outbounds()[from:]
}

// waitOutbound waits for an outbound frame, at or after index from, for
// which match holds, and returns it with its index.
func (r *apiRig) waitOutbound(from int, what string, match func(relaytest.OutboundFrame) bool) (relaytest.OutboundFrame, int) {
	r.t.Helper()
	o, i, err := r.srv.WaitOutbound(testCtx(r.t), from, match)
	if err != nil {
		r.t.Fatalf("no outbound %s: %v", what, err)
	}
	return o, i
}

// checkNoSecrets checks that neither the connector secret, the agent API
// token nor any upgrade token the connector received appears in the log
// or an agent API answer.
func (r *apiRig) checkNoSecrets() {
	r.t.Helper()
	secrets := []string{testSecret, r.token}
	for _, a := range r.srv.Authorizations() {
		secrets = append(secrets, strings.TrimPrefix(a, "Bearer "))
	}
	r.mu.Lock()
	answers := strings.Join(r.answers, "\n")
	r.mu.Unlock()
	log := r.p.stderr.String()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(log, s) {
			r.t.Errorf("the log contains a secret (%.6s…)", s)
		}
		if strings.Contains(answers, s) {
			r.t.Errorf("an agent API answer contains a secret (%.6s…)", s)
		}
	}
	r.agent.mu.Lock()
	defer r.agent.mu.Unlock()
	for _, ev := range r.agent.events {
		b, _ := json.Marshal(ev)
		for _, s := range secrets {
			if s != "" && bytes.Contains(b, []byte(s)) {
				r.t.Errorf("an event contains a secret (%.6s…)", s)
			}
		}
	}
}

// inboundEvent is a normalised inbound event as the connector sends it.
func inboundEvent(platform, chatID, messageID, text string) map[string]any {
	return map[string]any{"text": text, "message_type": "text", "message_id": messageID,
		"source": map[string]any{"platform": platform, "chat_id": chatID, "chat_type": "group", "user_id": "u-" + chatID,
			"scope_id": "g-" + chatID, "profile": "p-" + chatID}}
}

// discordButton is a Discord button press on a prompt's message.
func discordButton(id, customID, messageID string) pluginapi.Forward {
	body := `{"type":3,"id":"` + id + `","application_id":"bot-1","channel_id":"chan-p","guild_id":"g-p",` +
		`"member":{"user":{"id":"user-p","username":"u"}},"message":{"id":"` + messageID + `","channel_id":"chan-p"},` +
		`"data":{"custom_id":"` + customID + `","component_type":2}}`
	return discordForward([]byte(body))
}

// discordSlash is a Discord slash command /name with one string option.
func discordSlash(id, name, value string) pluginapi.Forward {
	body := `{"type":2,"id":"` + id + `","application_id":"bot-1","channel_id":"chan-s","guild_id":"g-s",` +
		`"member":{"user":{"id":"user-s","username":"u"}},"data":{"name":"` + name + `","options":[{"type":3,"name":"q","value":` +
		jsonString(value) + `}]}}`
	return discordForward([]byte(body))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// unixClient is an HTTP client that dials a unix socket.
func unixClient(path string) *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: scenarioTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }}}
}

// since returns how long ago t0 was, for log messages.
func since(t0 time.Time) time.Duration { return time.Since(t0).Round(time.Millisecond) }
