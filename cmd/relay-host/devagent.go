package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/relayhost/relay-host/host/agent"
)

// devAgentName is how the dev log names dev mode's own agent.
const devAgentName = "dev"

// Dev agent timings.
const (
	// devAgentCallTimeout bounds one call of the dev agent to the agent
	// API: the connector's own 30 s outbound wait, plus a margin.
	devAgentCallTimeout = 35 * time.Second
	// devThinkPause is how long /think "thinks" between its two typing
	// heartbeats: long enough to read as a heartbeat, short enough to keep
	// the demo quick.
	devThinkPause = 150 * time.Millisecond
)

// devAgent is dev mode's own agent: the echo agent, plus three commands
// that act through the agent API over HTTP exactly as an agent in another
// process would (docs/agents.md):
//
//   - /stream answers with POST /v1/reply, then edits that message twice
//     (POST /v1/actions edit), where the chat takes edits;
//   - /think sends two typing heartbeats, then replies;
//   - /deploy asks for approval with a prompt and two buttons; the press
//     comes back as an event with prompt_response, which it answers.
//
// An agent API call that fails is reported in the reply: the event was
// taken either way.
type devAgent struct {
	api *agentAPIClient
}

// Deliver implements agent.Agent.
func (a *devAgent) Deliver(ctx context.Context, ev agent.Event) (agent.Answer, error) {
	if pr := ev.PromptResponse; pr != nil {
		switch pr.OptionID {
		case "approve":
			return agent.Answer{Reply: "Approved: deploying web to production."}, nil
		case "deny":
			return agent.Answer{Reply: "Denied: nothing was deployed."}, nil
		}
	}
	command, _, _ := strings.Cut(ev.Text, " ")
	var err error
	switch command {
	case "/stream":
		err = a.stream(ctx, ev)
	case "/think":
		return a.think(ctx, ev)
	case "/deploy":
		return a.deploy(ctx, ev)
	default:
		return agent.Echo{}.Deliver(ctx, ev)
	}
	if err != nil {
		return agent.Answer{Reply: "(the dev agent's call to the agent API failed: " + err.Error() + ")"}, nil
	}
	return agent.Answer{}, nil
}

// stream sends "Counting: 1" as the event's reply, then edits it into
// "Counting: 1 2 3" one number at a time; a chat that cannot edit gets the
// whole text at once.
func (a *devAgent) stream(ctx context.Context, ev agent.Event) error {
	const last = 3
	if d := ev.Destination; d != nil && !d.SupportsEdit {
		_, err := a.api.call(ctx, "/v1/reply", map[string]any{"event_id": ev.EventID, "content": "Counting: 1 2 3"})
		return err
	}
	text := "Counting: 1"
	res, err := a.api.call(ctx, "/v1/reply", map[string]any{"event_id": ev.EventID, "content": text})
	if err != nil {
		return err
	}
	id, _ := res["message_id"].(string)
	for n := 2; n <= last; n++ {
		text += fmt.Sprintf(" %d", n)
		if _, err := a.api.call(ctx, "/v1/actions", map[string]any{"op": "edit", "chat_id": ev.Source.ChatID,
			"message_id": id, "content": text}); err != nil {
			return err
		}
	}
	return nil
}

// think sends a typing heartbeat, thinks a moment, sends another, and
// replies.
func (a *devAgent) think(ctx context.Context, ev agent.Event) (agent.Answer, error) {
	for i := range 2 {
		if i > 0 {
			t := time.NewTimer(devThinkPause)
			select {
			case <-ctx.Done():
				t.Stop()
				return agent.Answer{}, ctx.Err()
			case <-t.C:
			}
		}
		if _, err := a.api.call(ctx, "/v1/actions", map[string]any{"op": "typing", "chat_id": ev.Source.ChatID}); err != nil {
			return agent.Answer{Reply: "(the dev agent's typing failed: " + err.Error() + ")"}, nil
		}
	}
	return agent.Answer{Reply: "Thought it over: every action an agent takes goes out through the relay."}, nil
}

// deploy asks for approval with a prompt (relay-host mints its id) and
// says it is waiting.
func (a *devAgent) deploy(ctx context.Context, ev agent.Event) (agent.Answer, error) {
	res, err := a.api.call(ctx, "/v1/actions", map[string]any{
		"op": "prompt", "chat_id": ev.Source.ChatID, "content": "Deploy web to production?", "timeout_s": 600,
		"options": []map[string]string{{"id": "approve", "label": "Approve", "style": "primary"}, {"id": "deny", "label": "Deny", "style": "danger"}},
	})
	if err != nil {
		return agent.Answer{Reply: "(the dev agent's prompt failed: " + err.Error() + ")"}, nil
	}
	return agent.Answer{Reply: fmt.Sprintf("Waiting for approval (prompt %v).", res["prompt_id"])}, nil
}

// agentAPIClient calls the agent API with its bearer token.
type agentAPIClient struct {
	base   string // http://host:port, or http://agent-api for a unix socket
	token  string
	client *http.Client
}

// newAgentAPIClient returns a client of the agent API listening on ln.
func newAgentAPIClient(ln net.Listener, token []byte) *agentAPIClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	base := "http://" + ln.Addr().String()
	if ln.Addr().Network() == "unix" {
		path := ln.Addr().String()
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }
		base = "http://agent-api"
	}
	return &agentAPIClient{base: base, token: string(token), client: &http.Client{Transport: tr, Timeout: devAgentCallTimeout}}
}

// call POSTs body as JSON to path and returns the answer object; an answer
// other than 200 is an error naming its status and message.
func (c *agentAPIClient) call(ctx context.Context, path string, body any) (map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return nil, fmt.Errorf("%s answered %d with a body that is not JSON", path, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return answer, fmt.Errorf("%s answered %d: %v", path, resp.StatusCode, answer["error"])
	}
	return answer, nil
}

// close drops the client's idle connections.
func (c *agentAPIClient) close() { c.client.CloseIdleConnections() }
