package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
)

// platform is the forward platform this plugin serves.
const platform = "github"

// egressKind is the egress kind of the events: a reply to one leaves
// through this plugin (HandleAction) as a comment on the event's issue.
const egressKind = "github.comment"

// DefaultAPIBaseURL is GitHub's REST API; GitHub Enterprise Server and the
// tests' fake GitHub set api_base_url instead.
const DefaultAPIBaseURL = "https://api.github.com"

// apiTimeout bounds one call to the GitHub API when the host's deadline is
// later: GitHub answers a comment in well under a second; ten is a stuck
// connection.
const apiTimeout = 10 * time.Second

// settings is the settings object of the configuration file.
type settings struct {
	// Repos is the allowlist of repositories ("owner/name"); empty allows
	// every repository the webhook is installed on.
	Repos []string `json:"repos"`
	// BotLogin is the login the plugin comments as; events it caused (its
	// own comments) are dropped, so the agent never answers itself.
	BotLogin string `json:"bot_login"`
	// APIBaseURL is the REST API's base URL (DefaultAPIBaseURL).
	APIBaseURL string `json:"api_base_url"`
}

// config is one accepted configuration.
type config struct {
	settings
	webhookSecret []byte
	apiToken      string
	apiBase       *url.URL
}

// allows reports whether the allowlist admits repository fullName.
func (c *config) allows(fullName string) bool {
	if len(c.Repos) == 0 {
		return true
	}
	for _, r := range c.Repos {
		if strings.EqualFold(r, fullName) {
			return true
		}
	}
	return false
}

// plugin implements pluginapi.Plugin, Configurer, Egress and HealthChecker.
// Its configuration is swapped whole (atomic.Pointer): Configure may run
// while forwards and actions are in flight.
type plugin struct {
	cur    atomic.Pointer[config]
	client *http.Client
}

func newPlugin() *plugin {
	return &plugin{client: &http.Client{
		// A comment post is never redirected by GitHub; following one would
		// carry the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Info tells the host who we are, which forwards we serve and what
// configuration we take (the host checks the file against it).
func (*plugin) Info() pluginapi.Info {
	return pluginapi.Info{Name: "github", Version: version, Platforms: []string{platform},
		Config: &pluginapi.ConfigSchema{
			Settings: []pluginapi.SettingSpec{
				{Name: "repos", Type: pluginapi.SettingStrings, Description: "repositories (owner/name) whose events are taken; empty: all"},
				{Name: "bot_login", Type: pluginapi.SettingString, Description: "the login the plugin comments as; its own events are ignored"},
				{Name: "api_base_url", Type: pluginapi.SettingString, Description: "GitHub REST API base URL (default " + DefaultAPIBaseURL + ")"},
			},
			Secrets: []pluginapi.SecretSpec{
				{Name: "webhook_secret", Required: true, Description: "the webhook's secret; every delivery's X-Hub-Signature-256 is checked against it"},
				{Name: "api_token", Description: "a token allowed to comment on issues; without it replies fail"},
			},
		}}
}

// Configure takes a configuration, or refuses it and keeps the previous one.
func (p *plugin) Configure(_ context.Context, c pluginapi.Config) error {
	var s settings
	if err := c.Decode(&s); err != nil {
		return err
	}
	secret, ok := c.Secret("webhook_secret")
	if !ok || secret == "" {
		return errors.New("the webhook_secret secret is required (an empty one would accept forged deliveries)")
	}
	base := s.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("api_base_url %q is not an http(s) URL", base)
	}
	for _, r := range s.Repos {
		if owner, name, ok := strings.Cut(r, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("repos: %q is not owner/name", r)
		}
	}
	token, _ := c.Secret("api_token")
	p.cur.Store(&config{settings: s, webhookSecret: []byte(secret), apiToken: token, apiBase: u})
	return nil
}

// CheckHealth reports whether the plugin can work: it has a configuration,
// and a token to reply with.
func (p *plugin) CheckHealth(context.Context) error {
	c := p.cur.Load()
	switch {
	case c == nil:
		return errors.New("not configured: relay-host has sent no configuration")
	case c.apiToken == "":
		return errors.New("no api_token secret: events are taken but replies cannot be posted")
	}
	return nil
}

// HandleForward converts one webhook delivery (convert.go).
func (p *plugin) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	c := p.cur.Load()
	if c == nil {
		return pluginapi.Reject("the plugin has no configuration (is github.json in the plugins directory?)")
	}
	res := convert(c, f)
	pluginapi.LoggerFrom(ctx).Debug("github delivery converted",
		"disposition", string(res.Disposition), "reason", res.Reason, "events", len(res.Events))
	return res
}
