package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/edge"
	"github.com/relayhost/relay-host/host/metrics"
)

const devAbout = `Run the whole relay on this machine: an embedded connector, the bundled
plugins and an agent (echo by default), connected as in production, and the
agent API.

The embedded connector listens on --addr. Its edge answers Discord
interactions and Twilio webhooks the way the real connector does (PONG for a
PING, a deferred response for commands and modals, a deferred update for
components, an empty TwiML <Response/> for Twilio), removes the interaction
token and keeps it in memory under the session key, and forwards the request
to relay-host over the WebSocket relay-host dialed, authenticated with a
secret generated for this run. Each step is printed: the request, the answer,
the forward, the plugin's result, the agent's reply, and every action that
comes back (follow-ups matched to the interaction they answer, sends, edits,
typing, prompts, reactions, files).

The agent API is always served, on --agent-api (default 127.0.0.1:8081),
with a token generated for the run unless --agent-api-token-file or
$RELAY_AGENT_API_TOKEN gives one; the token is printed with a ready curl line.
The embedded connector carries out every op it advertises and hosts the
media plane. With the echo agent, dev runs its own agent: echo, plus /stream
(a reply, then edits), /think (typing heartbeats) and /deploy (an approval
prompt with buttons), each done through the agent API.

Forwards that arrive while the host is away are buffered and replayed when it
reconnects. With --discord-public-key, interactions must carry a valid
Ed25519 signature; without it, unsigned interactions are accepted.

With --dormant-after the host goes dormant once nothing has happened for
that long, as 'run --dormant-after' does: it lets the connector buffer and
closes the link. The next request you POST is buffered, and the embedded
connector calls the host's wake URL (/wake on --listen, which then defaults
to a free loopback port), as the real connector does; the host dials back
and the buffered request is replayed and served.

--demo also sends a set of sample interactions (a slash command, a button, a
select menu, a modal, a Twilio SMS; then, with dev's own agent, a streamed
answer, typing, a prompt answered by a button press and a long reply split in
parts) through the edge over HTTP, shows each one's story, prints a summary,
and keeps serving.

Stop with Ctrl-C (SIGINT) or SIGTERM: exit status 0 after a clean shutdown.`

// defaultDevAddr is where the embedded connector listens by default: a
// fixed, memorable loopback port, so curl lines and notes keep working from
// one run to the next.
const defaultDevAddr = "127.0.0.1:8080"

// devHostWait bounds the wait for the host's first handshake with the
// embedded connector: the transport's own handshake budget (30 s,
// docs/protocol.md, Handshake) plus the plugins' start.
const devHostWait = 35 * time.Second

// devDemoChat is the chat of the demo's Discord samples: the agent API
// curl line sends to it.
const devDemoChat = "1200000000000000001"

// devIdentities are the identities dev mode fronts unless --identity says
// otherwise.
func devIdentities() identitiesFlag {
	return identitiesFlag{{Platform: edge.PlatformDiscord, BotID: "dev-bot"}, {Platform: edge.PlatformTwilio, BotID: "dev-number"}}
}

// errDevEnded ends the dev steps early; devCommand then returns
// devRun.result (nil for a clean stop).
var errDevEnded = errors.New("dev mode ended")

// devRun is the state one `relay-host dev` shares between its steps.
type devRun struct {
	env   *environment
	start time.Time

	// Flags.
	demo                                      bool
	addr, publicKey, dir, agentName, agentURL string
	listen, dormantAfter                      string
	idArgs                                    identityArgs
	ids                                       identitiesFlag
	lf                                        logFlags
	api                                       agentAPIConfig
	plugins                                   pluginFlags
	jo                                        jetstreamOptions
	dormancy                                  devDormancy

	// Built by the steps.
	logger      hclog.Logger
	keys        []ed25519.PublicKey
	demoKey     ed25519.PrivateKey // signs the demo's samples when keys are checked
	agent       agent.Agent
	apiClient   *agentAPIClient // dev's own agent's, when it runs
	metrics     *metrics.Metrics
	dj          *devJetStream // the JetStream agent, with --agent jetstream
	out         *devLog
	edge        *edge.Edge
	gatewayID   string
	secret      string
	gwErr       chan error
	stopGateway context.CancelFunc
	gone        context.Context // done once the gateway has returned
	markGone    context.CancelFunc
	ready       chan string
	metricsAddr string
	result      error
}

// devStep is one named step of dev mode.
type devStep struct {
	name string
	run  func(ctx context.Context) error
}

// steps lists dev mode, in order.
func (d *devRun) steps() []devStep {
	return []devStep{
		{"logger", d.setUpLogger},
		{"signing keys", d.setUpKeys},
		{"agent API", d.setUpAgentAPI},
		{"agent", d.setUpAgent},
		{"connector", d.startConnector},
		{"jetstream", d.startJetStream},
		{"gateway", d.startGateway},
		{"wait for the host", d.waitHost},
		{"banner", d.printBanner},
		{"demo", d.runDemo},
		{"serve", d.serve},
	}
}

func devCommand(ctx context.Context, env *environment, args []string) error {
	d, err := parseDev(env, args)
	if err != nil {
		return err
	}
	defer d.cleanup()
	for _, step := range d.steps() {
		err := step.run(ctx)
		if errors.Is(err, errDevEnded) {
			return d.result
		}
		if err != nil {
			return err
		}
	}
	return d.result
}

// parseDev parses dev's flags.
func parseDev(env *environment, args []string) (*devRun, error) {
	d := &devRun{env: env, start: time.Now()}
	fs := newFlagSet(env, "dev", "dev [--demo] [--addr ADDR] [--agent-api ADDR] [--discord-public-key HEX] [flags]", devAbout)
	if err := boolFlag(fs, &d.demo, "demo", "RELAY_DEV_DEMO", "send the bundled sample interactions through the edge and show each step, then keep serving"); err != nil {
		return nil, err
	}
	fs.stringVar(&d.addr, "addr", "RELAY_DEV_ADDR", defaultDevAddr, "address the embedded connector listens on (127.0.0.1:0 picks a free port)")
	fs.stringVar(&d.publicKey, "discord-public-key", "RELAY_DISCORD_PUBLIC_KEY", "", "Discord application public key (hex); interactions must then be signed with it (default: unsigned interactions accepted)")
	fs.envNames["identity"] = "RELAY_IDENTITIES"
	defaults := devIdentities()
	fs.Var(&d.idArgs, "identity", "PLATFORM:BOT_ID the host fronts; repeatable, the first is the default (default "+defaults.String()+")")
	fs.pluginsDirFlag(&d.dir)
	fs.stringVar(&d.agentName, "agent", "RELAY_AGENT", agent.NameEcho, "agent that takes events: echo (dev's own: echo plus /stream, /think, /deploy), stdout, webhook or jetstream (see 'relay-host run --help')")
	fs.stringVar(&d.agentURL, "agent-url", "RELAY_AGENT_URL", "", "URL the webhook agent POSTs each event to")
	fs.stringVar(&d.listen, "listen", "RELAY_LISTEN", "", "address to serve /metrics, /healthz and /readyz on (default: off)")
	if err := fs.agentAPIFlags(&d.api, defaultDevAgentAPIAddr); err != nil {
		return nil, err
	}
	if err := d.plugins.add(fs); err != nil {
		return nil, err
	}
	if err := fs.jetstreamFlags(&d.jo, "", "--agent jetstream: directory of the embedded NATS server's store and token (default: a temporary directory, removed at exit)"); err != nil {
		return nil, err
	}
	fs.stringVar(&d.dormantAfter, "dormant-after", "RELAY_DORMANT_AFTER", "", "let the host go dormant after this long without activity, e.g. 5s; a request then wakes it (default: never)")
	fs.logFlags(&d.lf, "warn")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if d.dormantAfter != "" {
		after, err := time.ParseDuration(d.dormantAfter)
		if err != nil || after < 0 {
			return nil, fs.usageErrorf("--dormant-after %q: want a duration such as 5s", d.dormantAfter)
		}
		d.dormancy.after = after
		if after > 0 && d.listen == "" {
			d.listen = "127.0.0.1:0" // the wake URL lives there
		}
	}
	if fs.NArg() > 0 {
		return nil, fs.usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	ids, err := d.idArgs.identities(env)
	if err != nil {
		return nil, err
	}
	d.ids = ids
	if len(d.ids) == 0 {
		d.ids = devIdentities()
	}
	return d, nil
}

// cleanup undoes what the steps started, in reverse.
func (d *devRun) cleanup() {
	if d.stopGateway != nil {
		d.stopGateway()
	}
	if d.markGone != nil {
		d.markGone()
	}
	d.dj.close()
	if d.edge != nil {
		d.edge.Close()
	}
	if d.apiClient != nil {
		d.apiClient.close()
	}
	if d.api.listener != nil {
		_ = d.api.listener.Close() // the gateway closes it too; this covers a failed start
	}
}

// setUpLogger builds the logger (standard error).
func (d *devRun) setUpLogger(context.Context) error {
	var err error
	d.logger, err = d.lf.logger(d.env.stderr)
	if err != nil {
		return err
	}
	hardenHost(d.logger)
	return nil
}

// setUpKeys parses --discord-public-key. With a real public key the demo's
// samples must be signed too: it signs them with a throwaway key that only
// this run trusts.
func (d *devRun) setUpKeys(context.Context) error {
	if d.publicKey == "" {
		return nil
	}
	k, err := edge.ParsePublicKey(d.publicKey)
	if err != nil {
		return fmt.Errorf("--discord-public-key: %w", err)
	}
	d.keys = append(d.keys, k)
	if d.demo {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("generate the demo signing key: %w", err)
		}
		d.keys, d.demoKey = append(d.keys, pub), priv
	}
	return nil
}

// setUpAgentAPI loads or generates the agent API's token and opens its
// listener.
func (d *devRun) setUpAgentAPI(context.Context) error {
	if err := d.api.check(); err != nil {
		return err
	}
	if d.api.addr == "" {
		return errors.New("--agent-api: dev always serves the agent API; give an address, e.g. 127.0.0.1:0")
	}
	if err := d.api.loadToken(d.env, d.logger); err != nil {
		return err
	}
	if len(d.api.token) == 0 {
		d.api.token = []byte(randomHex(devTokenBytes))
	}
	return d.api.listen()
}

// setUpAgent builds the agent: dev's own for echo, else the one named.
func (d *devRun) setUpAgent(context.Context) error {
	if d.agentName == agent.NameEcho {
		d.apiClient = newAgentAPIClient(d.api.listener, d.api.token)
		d.agent = &devAgent{api: d.apiClient}
		return nil
	}
	if d.agentName == jetstream.Name {
		return d.jo.check() // the agent starts once the gateway id is known (startJetStream)
	}
	var err error
	d.agent, err = newAgent(d.agentName, d.agentURL, d.env)
	return err
}

// startJetStream starts the JetStream agent, with --agent jetstream: its
// embedded server and dev's echo worker (startDevJetStream).
func (d *devRun) startJetStream(ctx context.Context) error {
	d.metrics = metrics.New()
	if d.agentName != jetstream.Name {
		return nil
	}
	var err error
	if d.dj, err = startDevJetStream(ctx, d.env, &d.jo, d.gatewayID, d.metrics, d.logger); err != nil {
		return err
	}
	d.agent = d.dj.rt.agent
	return nil
}

// ownAgent reports whether dev runs its own agent.
func (d *devRun) ownAgent() bool { return d.apiClient != nil }

// startConnector starts the embedded connector and its edge.
func (d *devRun) startConnector(context.Context) error {
	name := d.agentName
	if d.ownAgent() {
		name = devAgentName
	}
	d.out = newDevLog(d.env.stdout, isTerminal(d.env.stdout) && d.env.getenv("NO_COLOR") == "", name)
	d.out.setRetain(d.demo)
	d.dormancy.out = d.out
	d.gatewayID, d.secret = "dev-"+randomHex(4), randomHex(32)
	e, err := edge.Start(edge.Config{Addr: d.addr, GatewayID: d.gatewayID, Secret: d.secret, Identities: d.ids,
		PublicKeys: d.keys, OnEvent: d.out.edgeEvent, Logger: d.logger})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--addr %s is already in use (another relay-host dev?): pass --addr 127.0.0.1:0 to pick a free port", d.addr)
		}
		return fmt.Errorf("--addr %s: %w", d.addr, err)
	}
	d.edge = e
	d.out.notef("%s", d.out.heading("relay-host dev: embedded connector on "+e.URL()+" (gateway "+d.gatewayID+"); starting the plugins and connecting the host"))
	return nil
}

// startGateway runs the gateway (the host, its plugins and the agent API)
// against the embedded connector, in the background.
func (d *devRun) startGateway(ctx context.Context) error {
	d.ready = make(chan string, 1)
	d.gwErr = make(chan error, 1)
	gwCtx, stop := context.WithCancel(ctx)
	d.stopGateway = stop
	d.gone, d.markGone = context.WithCancel(context.Background())
	cfg := gatewayConfig{
		connector: d.edge.URL(), gatewayID: d.gatewayID, secret: d.secret, identities: d.ids,
		pluginsDir: d.dir, plugins: d.plugins, agent: d.agent, listen: d.listen, logger: d.logger,
		ready: func(httpAddr string) { d.ready <- httpAddr },
		trace: d.out.step, agentAPI: d.api, metrics: d.metrics, jetstream: d.dj.runtime(),
		link: linkSettings{dormantAfter: d.dormancy.after}, relayTuning: d.dormancy.tuning(),
	}
	go func() {
		d.gwErr <- runGateway(gwCtx, cfg)
		d.markGone()
	}()
	return nil
}

// waitHost waits for the host to connect, the gateway to fail, or Ctrl-C.
func (d *devRun) waitHost(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, devHostWait)
	stopWait := context.AfterFunc(d.gone, cancel)
	err := d.edge.WaitHost(hctx)
	stopWait()
	cancel()
	if err != nil {
		switch {
		case d.gone.Err() != nil, ctx.Err() != nil:
			// The gateway failed to start (it says why), or Ctrl-C while
			// starting: a clean stop.
			d.result = <-d.gwErr
			return errDevEnded
		}
		d.stopGateway()
		<-d.gwErr
		return fmt.Errorf("the host did not connect to the embedded connector within %s: run with --log-level debug to see why", devHostWait)
	}
	select {
	case d.metricsAddr = <-d.ready:
		return nil
	case <-d.gone.Done():
		d.result = <-d.gwErr
		return errDevEnded
	}
}

// runDemo plays the samples, with --demo.
func (d *devRun) runDemo(ctx context.Context) error {
	if !d.demo {
		return nil
	}
	dctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.gone, cancel)
	sum, err := runDemo(dctx, d.edge, d.out, botIDs(d.ids), d.demoKey, d.ownAgent(), d.dj != nil)
	stop()
	cancel()
	d.out.setRetain(false)
	switch {
	case err == nil:
		d.out.notef("")
		d.out.notef("%s", d.out.heading(sum.line(time.Since(d.start))))
	case d.gone.Err() == nil && ctx.Err() == nil:
		d.stopGateway()
		<-d.gwErr
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// serve keeps serving until Ctrl-C or the gateway ends.
func (d *devRun) serve(ctx context.Context) error {
	if d.gone.Err() == nil && ctx.Err() == nil {
		d.out.notef("")
		d.out.notef("Serving: POST your own requests (see the curl lines above); Ctrl-C to stop.")
	}
	d.out.setSeparate(true)
	d.result = <-d.gwErr
	d.out.flush()
	if d.result == nil {
		d.out.notef("Stopped.")
	}
	return nil
}

// printBanner prints where to send requests and ready-to-paste curl lines.
func (d *devRun) printBanner(context.Context) error {
	out, e, keyed, demoSigns := d.out, d.edge, d.publicKey != "", d.demoKey != nil
	bots := botIDs(d.ids)
	discordURL, twilioURL := e.DiscordURL(bots[edge.PlatformDiscord]), e.TwilioURL(bots[edge.PlatformTwilio])
	var b strings.Builder
	fmt.Fprintf(&b, "\nDiscord interactions  POST %s\n", discordURL)
	fmt.Fprintf(&b, "Twilio webhooks       POST %s\n", twilioURL)
	fmt.Fprintf(&b, "Any platform          POST %s (method, headers and body forwarded as they are)\n", e.URL()+edge.ForwardPathPrefix+"<platform>/<bot_id>/<path…>")
	switch {
	case keyed && demoSigns:
		fmt.Fprintf(&b, "Signatures            checked against --discord-public-key (the demo signs its samples with a throwaway key this run also trusts)\n")
	case keyed:
		fmt.Fprintf(&b, "Signatures            checked against --discord-public-key: unsigned or badly signed interactions get 401\n")
	default:
		fmt.Fprintf(&b, "Signatures            not checked (no --discord-public-key): unsigned interactions are accepted\n")
	}
	if d.ownAgent() {
		fmt.Fprintf(&b, "Agent                 dev: echo, plus /stream, /think and /deploy through the agent API\n")
	} else {
		fmt.Fprintf(&b, "Agent                 %s\n", d.agentName)
	}
	apiURL, curlAPI := agentAPIURL(d.api.listener)
	fmt.Fprintf(&b, "Agent API             %s  token %s\n", apiURL, d.api.token)
	if d.metricsAddr != "" {
		fmt.Fprintf(&b, "Metrics               http://%s/metrics\n", d.metricsAddr)
	}
	b.WriteString("\nTry it:\n")
	slash := `{"type":2,"id":"curl-1","token":"curl-token","channel_id":"dev-channel","guild_id":"dev-guild",` +
		`"member":{"user":{"id":"dev-user","username":"you"}},"data":{"name":"hello","options":[{"type":3,"name":"text","value":"from curl"}]}}`
	if keyed {
		b.WriteString("  (these Discord lines are unsigned: sign them with your application's key, or they get 401)\n")
	}
	fmt.Fprintf(&b, "  curl -sS -w '\\n' %s -H 'Content-Type: application/json' -d '{\"type\":1}'\n", discordURL)
	fmt.Fprintf(&b, "  curl -sS -w '\\n' %s -H 'Content-Type: application/json' -d '%s'\n", discordURL, slash)
	fmt.Fprintf(&b, "  curl -sS -w '\\n' %s -d MessageSid=SMdev0001 --data-urlencode 'From=+15555550100' --data-urlencode 'Body=hello from curl'\n", twilioURL)
	b.WriteString("Send a message to the demo chat through the agent API (docs/agents.md has every endpoint):\n")
	fmt.Fprintf(&b, "  curl -sS -w '\\n' %s/v1/actions -H 'Authorization: Bearer %s' -d '{\"op\":\"send\",\"chat_id\":\"%s\",\"content\":\"hello from curl\"}'\n",
		curlAPI, d.api.token, devDemoChat)
	out.notef("%s", strings.TrimRight(b.String(), "\n"))
	if d.dj != nil {
		out.notef("%s", d.dj.banner())
	}
	d.dormancy.connect(e, d.metricsAddr)
	return nil
}

// agentAPIURL returns the agent API's address for the banner, and what a
// curl line puts before the path: the URL, with --unix-socket for a socket.
func agentAPIURL(ln net.Listener) (display, curlPrefix string) {
	if ln.Addr().Network() == "unix" {
		path := ln.Addr().String()
		return "unix:" + path, "--unix-socket " + path + " http://localhost"
	}
	u := "http://" + ln.Addr().String()
	return u, u
}

// botIDs maps each platform to its bot id.
func botIDs(ids identitiesFlag) map[string]string {
	m := map[string]string{}
	for _, id := range ids {
		if _, ok := m[id.Platform]; !ok {
			m[id.Platform] = id.BotID
		}
	}
	return m
}

// randomHex returns n random bytes as hex (crypto/rand never fails).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// boolFlag defines a boolean flag, off by default, with an environment
// twin (true/false, 1/0, yes is not accepted: strconv.ParseBool's forms).
func boolFlag(fs *flagSet, p *bool, name, envName, usage string) error {
	return boolFlagDefault(fs, p, name, envName, false, usage)
}
