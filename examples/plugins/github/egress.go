package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// maxAPIAnswer bounds how much of a GitHub API answer is read: a created
// comment is a few KiB.
const maxAPIAnswer = 1 << 20

// HandleAction sends an agent action for an issue's chat: send (to the
// action's chat_id) and follow_up (to the chat of its session key) post
// the content as an issue comment; typing is answered at once (GitHub has
// no typing indicator); anything else is unsupported.
func (p *plugin) HandleAction(ctx context.Context, a pluginapi.Action) pluginapi.ActionResult {
	c := p.cur.Load()
	if c == nil {
		return pluginapi.ActionFailed("not_configured", "the github plugin has no configuration")
	}
	var chat string
	switch a.Op {
	case "typing":
		return pluginapi.ActionResult{Success: true}
	case "send":
		chat = a.String("chat_id")
	case "follow_up":
		var ok bool
		if chat, ok = chatFromSessionKey(a.String("session_key")); !ok {
			return pluginapi.ActionFailed("bad_request", "follow_up: session key is not one of a GitHub issue")
		}
	default:
		return pluginapi.ActionFailed(pluginapi.CodeUnsupportedOp, "%s is not supported by github", a.Op)
	}
	owner, name, number, ok := parseChatID(chat)
	if !ok {
		return pluginapi.ActionFailed("bad_request", "chat_id %q is not owner/name#number", chat)
	}
	if !c.allows(owner + "/" + name) {
		return pluginapi.ActionFailed("egress_declined", "github egress declined: %s/%s is not in the repos allowlist", owner, name)
	}
	content := a.String("content")
	if content == "" {
		return pluginapi.ActionFailed("bad_request", "%s: content is empty", a.Op)
	}
	if c.apiToken == "" {
		return pluginapi.ActionFailed("not_configured", "no api_token secret: cannot post to GitHub")
	}
	return p.comment(ctx, c, owner, name, number, content)
}

// comment posts body as a comment on issue number of owner/name
// (POST /repos/{owner}/{repo}/issues/{number}/comments).
func (p *plugin) comment(ctx context.Context, c *config, owner, name string, number int, body string) pluginapi.ActionResult {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	u := c.apiBase.JoinPath("repos", owner, name, "issues", strconv.Itoa(number), "comments")
	payload, _ := json.Marshal(map[string]string{"body": body})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return pluginapi.ActionFailed("bad_request", "build the request: %v", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+c.apiToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "relay-plugin-github/"+version)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := p.client.Do(req)
	if err != nil {
		// The request may have reached GitHub: say so without the URL's
		// query or any header.
		return pluginapi.ActionResult{Error: fmt.Sprintf("post to GitHub: %v", redact(err)), Code: "unavailable",
			Extra: map[string]any{"ambiguous": true}}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	if resp.StatusCode != http.StatusCreated {
		var apiErr struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &apiErr)
		code := "rejected"
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			code = "unauthorized"
		case resp.StatusCode == http.StatusTooManyRequests:
			code = "rate_limited"
		case resp.StatusCode >= 500:
			code = "unavailable"
		}
		return pluginapi.ActionFailed(code, "GitHub answered %d: %s", resp.StatusCode, oneLine(apiErr.Message))
	}
	var created struct {
		ID      int64  `json:"id"`
		HTMLURL string `json:"html_url"`
	}
	if err := json.Unmarshal(data, &created); err != nil || created.ID == 0 {
		return pluginapi.ActionResult{Success: true, Extra: map[string]any{"warning": "GitHub's answer had no comment id"}}
	}
	res := pluginapi.ActionSent(strconv.FormatInt(created.ID, 10))
	res.Extra = map[string]any{"url": created.HTMLURL}
	return res
}

// redact drops the URL from a client error (its message names it).
func redact(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// maxMessageRunes is how much of an API error message is kept: GitHub's
// messages are one sentence.
const maxMessageRunes = 200

// oneLine keeps an API message to one short line of valid UTF-8.
func oneLine(s string) string {
	s = strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s), "?")
	if r := []rune(s); len(r) > maxMessageRunes {
		s = string(r[:maxMessageRunes]) + "…"
	}
	if s == "" {
		return "(no message)"
	}
	return s
}
