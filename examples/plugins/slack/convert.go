package main

// This file is the whole Slack conversion: one forwarded request in, one
// pluginapi.Result out. It is pure (no I/O, no state, no logging), so the
// tests drive it through plugintest and the fuzz target calls it directly.
//
// The decisions it makes are listed in README.md ("What it produces").

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

const (
	// platform is the forward platform this plugin serves and the source
	// platform of its events.
	platform = "slack"

	// egressResponseURL is the egress kind of every event: a reply is sent
	// as an outbound follow_up naming the event's session key, and the
	// connector posts it to the command's response_url, which it took out
	// of the body into its vault before forwarding (as it does with
	// Discord's interaction token). The follow_up frame's platform is the
	// part before the first ".", i.e. "slack".
	egressResponseURL = "slack.response_url"

	// formContentType is the content type Slack posts slash commands with.
	formContentType = "application/x-www-form-urlencoded"

	// maxTypeLen bounds a JSON "type" quoted in a reason; Slack's longest
	// type names are about 25 characters.
	maxTypeLen = 40
)

// slashCommand holds the form fields of a slash command that the
// conversion reads. It deliberately has no field for token (the legacy
// verification token) or response_url (a webhook that lets whoever holds
// it post into the channel): both are credentials, and a value that is
// never read cannot leak into an event, a reason or a log line.
type slashCommand struct {
	command, text                string
	teamID, teamDomain           string
	enterpriseID, enterpriseName string
	isEnterpriseInstall          string
	channelID, channelName       string
	userID, userName             string
	apiAppID, triggerID          string
}

// convert turns one forwarded Slack request into a result:
//
//   - a form-encoded slash command becomes one command event (handled);
//   - an ssl_check ping or an Events API url_verification is dropped;
//   - an interactivity payload (payload=…) is dropped as not supported;
//   - anything else is rejected with a reason that never quotes the body.
func convert(f pluginapi.Forward) pluginapi.Result {
	mediaType, err := contentType(f)
	if err != nil {
		return pluginapi.Rejectf("content-type header is not a valid media type (want %s)", formContentType)
	}
	if mediaType == "application/json" || (mediaType == "" && looksLikeJSON(f.Body)) {
		return convertJSON(f.Body)
	}
	if mediaType != "" && mediaType != formContentType {
		return pluginapi.Rejectf("content-type is %.60s, want %s: Slack posts slash commands form-encoded", mediaType, formContentType)
	}
	// A form-encoded body never holds raw white space (it is escaped), so
	// trimming it is lossless; it lets a hand-written sample file end in a
	// newline and still convert the same.
	form, err := url.ParseQuery(string(bytes.TrimSpace(f.Body)))
	if err != nil {
		return pluginapi.Reject("body is not valid application/x-www-form-urlencoded (a bad %-escape or a ';' separator)")
	}
	hasCommand, hasPayload := form.Has("command"), form.Has("payload")
	switch {
	case form.Get("ssl_check") == "1" && !hasCommand && !hasPayload:
		return pluginapi.Drop("Slack ssl_check ping: the connector answers it; there is nothing to convert")
	case hasCommand && hasPayload:
		return pluginapi.Reject("form has both command and payload fields: Slack never sends that")
	case hasPayload:
		return convertInteractivity(form)
	case !hasCommand:
		return pluginapi.Reject("not a Slack slash command: the form has no command field")
	}
	c, reason := readCommand(form)
	if reason != "" {
		return pluginapi.Reject(reason)
	}
	return pluginapi.Handle(c.event(f.Profile))
}

// readCommand reads the slash-command fields of form, or returns why it
// cannot. Each field may appear at most once and must be valid UTF-8 (the
// event crosses the plugin boundary as protobuf strings).
func readCommand(form url.Values) (slashCommand, string) {
	var c slashCommand
	fields := []struct {
		name string
		dst  *string
	}{
		{"command", &c.command}, {"text", &c.text},
		{"team_id", &c.teamID}, {"team_domain", &c.teamDomain},
		{"enterprise_id", &c.enterpriseID}, {"enterprise_name", &c.enterpriseName},
		{"is_enterprise_install", &c.isEnterpriseInstall},
		{"channel_id", &c.channelID}, {"channel_name", &c.channelName},
		{"user_id", &c.userID}, {"user_name", &c.userName},
		{"api_app_id", &c.apiAppID}, {"trigger_id", &c.triggerID},
	}
	for _, fl := range fields {
		switch vs := form[fl.name]; {
		case len(vs) > 1:
			return c, fmt.Sprintf("field %s appears %d times; a slash command carries it once", fl.name, len(vs))
		case len(vs) == 1 && !utf8.ValidString(vs[0]):
			return c, fmt.Sprintf("field %s is not valid UTF-8", fl.name)
		case len(vs) == 1:
			*fl.dst = vs[0]
		}
	}
	switch {
	case len(c.command) < 2 || c.command[0] != '/' || strings.ContainsAny(c.command, " \t\r\n"):
		return c, "command field is not a slash command name (want /name)"
	case c.channelID == "":
		return c, "slash command has no channel_id: there is no chat to attach it to"
	case c.userID == "":
		return c, "slash command has no user_id: there is no author to attach it to"
	}
	return c, ""
}

// event builds the one event of a slash command; profile is the agent
// profile the connector routed the forward to.
func (c slashCommand) event(profile string) pluginapi.MessageEvent {
	src := pluginapi.SessionSource{
		Platform:                  platform,
		ChatID:                    c.channelID,
		ChatName:                  c.channelName,
		ChatType:                  c.chatType(),
		UserID:                    c.userID,
		UserName:                  c.userName,
		ScopeID:                   c.scope(),
		Profile:                   profile,
		DeliveredViaUpstreamRelay: true,
	}
	return pluginapi.MessageEvent{
		Text:        strings.TrimSpace(c.command + " " + strings.TrimSpace(c.text)),
		MessageType: pluginapi.MessageTypeCommand,
		Source:      src,
		MessageID:   c.triggerID,
		Metadata:    c.metadata(),
		SessionKey:  pluginapi.SessionKey(src),
		EgressKind:  egressResponseURL,
	}
}

// chatType is "dm" for a direct message with the app (channel ids starting
// with D; Slack names such channels "directmessage") and "group" for every
// other conversation: public and private channels and multi-person DMs,
// which share one session per user like Discord guild channels.
func (c slashCommand) chatType() string {
	if strings.HasPrefix(c.channelID, "D") || c.channelName == "directmessage" {
		return pluginapi.ChatTypeDM
	}
	return pluginapi.ChatTypeGroup
}

// scope is the tenant the connector's egress guard resolves: the
// enterprise for an org-wide (Enterprise Grid) install, because that is
// what the app was installed into, and the workspace otherwise. The
// workspace is always in metadata as slack_team_id.
func (c slashCommand) scope() string {
	if c.isEnterpriseInstall == "true" && c.enterpriseID != "" {
		return c.enterpriseID
	}
	return c.teamID
}

// metadata carries the Slack details that have no event field of their own.
// Empty fields are left out.
func (c slashCommand) metadata() map[string]any {
	m := map[string]any{"slack_command": c.command}
	for k, v := range map[string]string{
		"slack_team_id":         c.teamID,
		"slack_team_domain":     c.teamDomain,
		"slack_enterprise_id":   c.enterpriseID,
		"slack_enterprise_name": c.enterpriseName,
		"slack_api_app_id":      c.apiAppID,
	} {
		if v != "" {
			m[k] = v
		}
	}
	switch c.isEnterpriseInstall {
	case "true":
		m["slack_is_enterprise_install"] = true
	case "false":
		m["slack_is_enterprise_install"] = false
	}
	return m
}

// convertJSON handles a JSON body: Slack's Events API sends those, and of
// them only the url_verification handshake is expected here (the connector
// answers it; a copy that reaches us is dropped).
func convertJSON(body []byte) pluginapi.Result {
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return pluginapi.Reject("body is not a JSON object: not a Slack request this plugin knows")
	}
	if env.Type == "url_verification" {
		return pluginapi.Drop("Slack url_verification handshake: the connector answers the challenge; there is nothing to convert")
	}
	return pluginapi.Rejectf("body is a JSON request of type %s, not a form-encoded slash command: this plugin converts slash commands only", quoteType(env.Type))
}

// convertInteractivity handles a form whose payload field carries a JSON
// interactivity payload (block_actions, view_submission, shortcut, …).
// This example does not convert them; it says so in the drop reason.
func convertInteractivity(form url.Values) pluginapi.Result {
	var p struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil {
		return pluginapi.Reject("payload field is not a JSON object: not a Slack interactivity request")
	}
	return pluginapi.Drop(fmt.Sprintf("Slack interactivity payload of type %s is not supported: this plugin converts slash commands only", quoteType(p.Type)))
}

// contentType returns the forward's media type, lower-cased and without
// parameters, or "" when it has no content-type header.
func contentType(f pluginapi.Forward) (string, error) {
	v, ok := f.Header("content-type")
	if !ok || strings.TrimSpace(v) == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil && !(errors.Is(err, mime.ErrInvalidMediaParameter) && mt != "") {
		return "", fmt.Errorf("parse content-type: %w", err)
	}
	return mt, nil
}

// looksLikeJSON reports whether body starts, after white space, with '{'.
func looksLikeJSON(body []byte) bool {
	t := bytes.TrimSpace(body)
	return len(t) > 0 && t[0] == '{'
}

// quoteType quotes a payload's "type" for a reason, or says it is missing
// or odd, so that a reason never carries arbitrary request text.
func quoteType(t string) string {
	if t == "" {
		return "(none)"
	}
	if len(t) > maxTypeLen {
		return "(unrecognised)"
	}
	for _, r := range t {
		if !(r == '_' || r == '.' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			return "(unrecognised)"
		}
	}
	return `"` + t + `"`
}
