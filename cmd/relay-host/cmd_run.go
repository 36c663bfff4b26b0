package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/relay"
)

const runAbout = `Connect to a connector and serve forwards: the main job.

relay-host dials the connector's /relay WebSocket (the URL may be given as
https://…, it is normalised), authenticates with an HMAC token minted from
the gateway id and secret, announces each --identity, and then runs every
passthrough forward through the plugin for its platform, hands the events to
the agent, acknowledges buffered deliveries once handed off, and sends the
agent's replies back (a token-less follow_up for Discord interactions), split
to fit the chat. It reconnects with capped, jittered backoff when the link
drops.

With --agent-api, agents act through relay-host over HTTP: send, edit,
typing, prompts with buttons, reactions, files, replies long after the event
(docs/agents.md). Every request carries the token of --agent-api-token-file
(or $RELAY_AGENT_API_TOKEN) as a bearer; run will not serve the API without
one. Typing heartbeats and processing reactions go to the chats whose
platform takes them unless --typing=false / --reactions=false.

The secret is read from --secret-file (or $RELAY_SECRET, which is then
removed from the process's environment); it is never logged and never passed
to plugins. The process is made non-dumpable, so plugins running as the same
user cannot read its memory or environment through /proc; --plugin-user
starts them as another user. A plugin is trusted code: see
docs/operating.md, Limits and isolation.

Credentials may also come from the file 'relay-host enroll' wrote
(--credentials), or, in a hosted deployment, from self-provisioning at start
(--provision with a caller identity), held in memory only. --policy and
--command-manifest declare relevance policies and Discord commands to the
connector. With --dormant-after the gateway scales to zero: after that long
without activity it lets the connector buffer, closes the link, and dials
again when woken through /wake on --listen (the connector's wake URL),
SIGUSR1 or an agent API call; --dormant-exit exits 0 instead.

Exit status: 0 after a clean shutdown on SIGINT/SIGTERM, 1 for bad
configuration or a failed start, 3 when the connector revoked the credential.`

// identitiesFlag collects repeated --identity values.
type identitiesFlag []relay.Identity

func (f *identitiesFlag) String() string {
	parts := make([]string, len(*f))
	for i, id := range *f {
		parts[i] = id.Platform + ":" + id.BotID
	}
	return strings.Join(parts, ",")
}

var platformName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

func (f *identitiesFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		platform, bot, _ := strings.Cut(item, ":")
		if !platformName.MatchString(platform) {
			return fmt.Errorf("identity %q: want PLATFORM:BOT_ID with a lower-case platform name, e.g. discord:123456789012345678", item)
		}
		for _, have := range *f {
			if have.Platform == platform {
				return fmt.Errorf("identity %q: platform %s given twice (one bot per platform)", item, platform)
			}
		}
		*f = append(*f, relay.Identity{Platform: platform, BotID: bot})
	}
	return nil
}

// identityArgs collects the --identity values as given. They are checked
// after the flags are parsed (identities), so that a bad one is a
// configuration error (exit 1), as a bad $RELAY_IDENTITIES is, and not a
// misuse of the command line (exit 2).
type identityArgs []string

func (a *identityArgs) String() string { return strings.Join(*a, ",") }

func (a *identityArgs) Set(v string) error {
	*a = append(*a, v)
	return nil
}

// identities parses $RELAY_IDENTITIES, then the --identity values.
func (a identityArgs) identities(env *environment) (identitiesFlag, error) {
	var ids identitiesFlag
	if v := env.getenv("RELAY_IDENTITIES"); v != "" {
		if err := ids.Set(v); err != nil {
			return nil, fmt.Errorf("$RELAY_IDENTITIES: %w", err)
		}
	}
	for _, v := range a {
		if err := ids.Set(v); err != nil {
			return nil, fmt.Errorf("--identity: %w", err)
		}
	}
	return ids, nil
}

func runCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "run", "run --connector URL --gateway-id ID --secret-file PATH --identity PLATFORM:BOT_ID [flags]", runAbout)
	var connector, gatewayID, secretFile, dir, agentName, agentURL, listen, pluginUserName string
	var idArgs identityArgs
	var lf logFlags
	var ctl controlFlags
	var api agentAPIConfig
	var jo jetstreamOptions
	fs.stringVar(&connector, "connector", "RELAY_CONNECTOR_URL", "", "connector URL, e.g. https://connector.example (required)")
	fs.stringVar(&gatewayID, "gateway-id", "RELAY_GATEWAY_ID", "", "this gateway's id at the connector")
	fs.stringVar(&secretFile, "secret-file", "RELAY_SECRET_FILE", "", "file holding the per-gateway secret (or set $RELAY_SECRET)")
	fs.envNames["identity"] = "RELAY_IDENTITIES"
	fs.Var(&idArgs, "identity", "PLATFORM:BOT_ID the gateway fronts, e.g. discord:123456789012345678; repeatable (or comma-separated), the first is the default (required)")
	fs.pluginsDirFlag(&dir)
	fs.stringVar(&agentName, "agent", "RELAY_AGENT", agent.NameStdout, "agent that takes events: echo (replies \"echo: <text>\"), stdout (JSON lines on standard output, no replies), webhook (POST to --agent-url) or jetstream (publish to NATS JetStream for workers, see --nats-*)")
	fs.stringVar(&agentURL, "agent-url", "RELAY_AGENT_URL", "", "URL the webhook agent POSTs each event to; a JSON answer {\"reply\": \"…\", \"actions\": […]} is sent back and run")
	fs.stringVar(&listen, "listen", "RELAY_LISTEN", "", "address to serve /metrics, /healthz, /readyz and /wake on, e.g. 127.0.0.1:9090 (default: off)")
	if err := fs.agentAPIFlags(&api, ""); err != nil {
		return err
	}
	if err := fs.jetstreamFlags(&jo, jetstream.DefaultDataDir, "--agent jetstream: directory of the embedded NATS server's store and token"); err != nil {
		return err
	}
	var pf pluginFlags
	if err := pf.add(fs); err != nil {
		return err
	}
	fs.stringVar(&pluginUserName, "plugin-user", "RELAY_PLUGIN_USER", "", "start the plugins as this user (name or uid; relay-host must run as root), so they cannot read the host's files or memory")
	fs.logFlags(&lf, "info")
	if err := fs.controlFlags(&ctl); err != nil {
		return err
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fs.usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if connector == "" && ctl.credentials == "" {
		return fs.usageErrorf("--connector is required (or set $RELAY_CONNECTOR_URL, or give --credentials)")
	}
	ids, err := idArgs.identities(env)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fs.usageErrorf("at least one --identity PLATFORM:BOT_ID is required (or set $RELAY_IDENTITIES)")
	}
	logger, err := lf.logger(env.stderr)
	if err != nil {
		return err
	}
	secret, err := loadSecret(env, secretFile, logger)
	if err != nil {
		return err
	}
	hardenHost(logger)
	plugUser, err := pluginUser(pluginUserName)
	if err != nil {
		return err
	}
	plan, err := ctl.resolve(ctx, fs, logger, connector, gatewayID, secret, ids)
	if err != nil {
		return err
	}
	connector, gatewayID, secret = plan.connector, plan.gatewayID, plan.secret
	switch {
	case gatewayID != "" && secret == "":
		return errors.New("--gateway-id is set but there is no secret: pass --secret-file PATH or set $RELAY_SECRET")
	case gatewayID == "" && secret != "":
		return errors.New("a secret is set but --gateway-id is not: pass the gateway id the connector issued the secret for")
	case gatewayID == "":
		logger.Warn("no --gateway-id or secret: dialing the connector without credentials (only a development connector accepts that)")
	}
	if err := api.prepareRun(env, logger); err != nil {
		return err
	}
	applyMemoryDefaults(env)
	stopProfile, err := startProfile(env)
	if err != nil {
		return err
	}
	defer stopProfile()
	defer startPolicies(logger, plan)()
	m := metrics.New()
	ag, jsr, err := setupAgent(ctx, env, agentName, agentURL, &jo, gatewayID, m, logger)
	if err != nil {
		return err
	}
	defer jsr.close()
	return runGateway(ctx, gatewayConfig{
		connector: connector, gatewayID: gatewayID, secret: secret, identities: ids,
		pluginsDir: dir, pluginUser: plugUser, plugins: pf, agent: ag, listen: listen, logger: logger, link: plan.link, agentAPI: api,
		metrics: m, jetstream: jsr,
	})
}

// loadSecret reads the secret from the file, else from $RELAY_SECRET.
func loadSecret(env *environment, path string, log hclog.Logger) (string, error) {
	if path == "" {
		return strings.TrimSpace(env.getenv("RELAY_SECRET")), nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn("the secret file is readable by other users; chmod 600 it", "path", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return "", fmt.Errorf("--secret-file %s is empty", path)
	}
	return secret, nil
}

// newAgent builds the agent named by --agent.
func newAgent(name, url string, env *environment) (agent.Agent, error) {
	switch name {
	case agent.NameEcho:
		return agent.Echo{}, nil
	case agent.NameStdout:
		return agent.NewStdout(env.stdout), nil
	case agent.NameWebhook:
		if url == "" {
			return nil, errors.New("--agent webhook needs --agent-url (or $RELAY_AGENT_URL)")
		}
		return agent.NewWebhook(url, "relay-host/"+version)
	}
	return nil, fmt.Errorf("--agent %q: want echo, stdout, webhook or jetstream", name)
}
