package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// apiTimeout bounds one call to the agent API. relay-host waits up to 30 s
// for the connector's answer to an action; a split message waits once per
// part.
const apiTimeout = 2 * time.Minute

// apiClient calls relay-host's agent API: plain HTTP and JSON with a bearer
// token.
type apiClient struct {
	base  string // e.g. http://127.0.0.1:8081
	token string
	http  *http.Client
}

// result is an agent API answer: the connector's result object (success,
// message_id, error, code, ambiguous, …) or relay-host's own, with the HTTP
// status it came with.
type result struct {
	Status    int
	Success   bool   `json:"success"`
	MessageID string `json:"message_id"`
	PromptID  string `json:"prompt_id"`
	Error     string `json:"error"`
	Code      string `json:"code"`
	Ambiguous bool   `json:"ambiguous"`
	Fallback  string `json:"fallback"`
}

// post sends one JSON body to an agent API path (/v1/actions, /v1/reply).
func (c *apiClient) post(ctx context.Context, path string, body any) (result, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return result{}, fmt.Errorf("encode %s body: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return result{}, fmt.Errorf("build %s request: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return result{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	var r result
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return result{}, fmt.Errorf("POST %s: answer %d is not JSON: %w", path, resp.StatusCode, err)
	}
	r.Status = resp.StatusCode
	return r, nil
}

// action runs one outbound action: POST /v1/actions.
func (c *apiClient) action(ctx context.Context, a map[string]any) (result, error) {
	return c.post(ctx, "/v1/actions", a)
}

// reply answers an event the way it calls for: POST /v1/reply.
func (c *apiClient) reply(ctx context.Context, eventID, content string) (result, error) {
	return c.post(ctx, "/v1/reply", map[string]any{"event_id": eventID, "content": content})
}
