package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

// Headers GitHub sends with each delivery (the connector lower-cases names;
// Forward.Header compares without case anyway).
const (
	headerEvent     = "X-GitHub-Event"
	headerSignature = "X-Hub-Signature-256"
)

// user is the part of a GitHub user object the plugin reads.
type user struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

// payload is the part of an issues or issue_comment delivery the plugin
// reads.
type payload struct {
	Action string `json:"action"`
	Issue  struct {
		Number      int    `json:"number"`
		Title       string `json:"title"`
		Body        string `json:"body"`
		HTMLURL     string `json:"html_url"`
		PullRequest *struct {
			URL string `json:"url"`
		} `json:"pull_request"`
	} `json:"issue"`
	Comment *struct {
		ID      int64  `json:"id"`
		Body    string `json:"body"`
		HTMLURL string `json:"html_url"`
	} `json:"comment"`
	Repository struct {
		FullName string `json:"full_name"`
		Owner    user   `json:"owner"`
	} `json:"repository"`
	Sender user `json:"sender"`
}

// verify checks the delivery's X-Hub-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of the exact body under the webhook secret, compared in
// constant time.
func verify(secret, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// convert turns one delivery into at most one event. Reasons never quote
// the body or a header value.
func convert(c *config, f pluginapi.Forward) pluginapi.Result {
	sig, _ := f.Header(headerSignature)
	if !verify(c.webhookSecret, f.Body, sig) {
		return pluginapi.Reject("X-Hub-Signature-256 missing or not the body's signature under webhook_secret")
	}
	event, _ := f.Header(headerEvent)
	switch event {
	case "":
		return pluginapi.Reject("no X-GitHub-Event header")
	case "ping":
		return pluginapi.Drop("ping: the webhook is set up")
	case "issue_comment", "issues":
	default:
		return pluginapi.Dropf("%s deliveries are not converted (only issues and issue_comment)", event)
	}
	if !utf8.Valid(f.Body) {
		return pluginapi.Reject("body is not UTF-8 JSON")
	}
	var p payload
	if err := json.Unmarshal(f.Body, &p); err != nil {
		return pluginapi.Reject("body is not a GitHub webhook payload")
	}
	repo := p.Repository.FullName
	switch {
	case repo == "" || p.Issue.Number <= 0:
		return pluginapi.Reject("payload has no repository or issue number")
	case !c.allows(repo):
		return pluginapi.Dropf("repository %s is not in the repos allowlist", repo)
	case c.BotLogin != "" && strings.EqualFold(p.Sender.Login, c.BotLogin):
		return pluginapi.Drop("the bot's own action (bot_login): not answered")
	}
	var text, messageID, link string
	switch {
	case event == "issue_comment" && p.Action == "created" && p.Comment != nil:
		text, messageID, link = p.Comment.Body, strconv.FormatInt(p.Comment.ID, 10), p.Comment.HTMLURL
	case event == "issues" && p.Action == "opened":
		text, link = strings.TrimSpace(p.Issue.Title+"\n\n"+p.Issue.Body), p.Issue.HTMLURL
	default:
		return pluginapi.Dropf("%s %s is not converted (only a new comment or a new issue)", event, p.Action)
	}
	kind := "issue"
	if p.Issue.PullRequest != nil {
		kind = "pull_request"
	}
	src := pluginapi.SessionSource{
		Platform: platform, ChatID: chatID(repo, p.Issue.Number), ChatType: pluginapi.ChatTypeGroup,
		ChatName: repo + "#" + strconv.Itoa(p.Issue.Number), ChatTopic: p.Issue.Title,
		UserID: p.Sender.Login, UserName: p.Sender.Login, ScopeID: repo, MessageID: messageID,
		Profile: f.Profile, DeliveredViaUpstreamRelay: true,
	}
	return pluginapi.Handle(pluginapi.MessageEvent{
		Text: text, MessageType: pluginapi.MessageTypeText, Source: src, MessageID: messageID,
		SessionKey: pluginapi.SessionKey(src), EgressKind: egressKind,
		Metadata: map[string]any{"github_event": event, "github_action": p.Action, "github_kind": kind, "github_url": link},
	})
}

// chatID is an issue's chat id: "owner/name#number". It holds no ':', so it
// can be read back from a session key (chatFromSessionKey).
func chatID(repo string, number int) string { return repo + "#" + strconv.Itoa(number) }

// parseChatID splits a chat id into the repository and the issue number.
func parseChatID(id string) (owner, name string, number int, ok bool) {
	repo, num, found := strings.Cut(id, "#")
	owner, name, slash := strings.Cut(repo, "/")
	n, err := strconv.Atoi(num)
	if !found || !slash || owner == "" || name == "" || strings.ContainsAny(name, "/#") || err != nil || n <= 0 {
		return "", "", 0, false
	}
	return owner, name, n, true
}

// chatFromSessionKey reads the chat id back from a session key of this
// plugin's events: agent:<ns>:github:group:<chat_id>:<user>.
func chatFromSessionKey(key string) (string, bool) {
	parts := strings.Split(key, ":")
	if len(parts) < 5 || parts[0] != "agent" || parts[2] != platform || parts[3] != pluginapi.ChatTypeGroup {
		return "", false
	}
	return parts[4], true
}
