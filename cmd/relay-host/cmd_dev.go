package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/edge"
	"github.com/relayhost/relay-host/host/metrics"
)

const devAbout = `Run the whole relay on this machine: an embedded connector, the bundled
plugins and an agent (echo by default), connected as in production.

The embedded connector listens on --addr. Its edge answers Discord
interactions and Twilio webhooks the way the real connector does (PONG for a
PING, a deferred response for commands and modals, a deferred update for
components, an empty TwiML <Response/> for Twilio), removes the interaction
token and keeps it in memory under the session key, and forwards the request
to relay-host over the WebSocket relay-host dialed, authenticated with a
secret generated for this run. Each step is printed: the request, the answer,
the forward, the plugin's result, the agent's reply, and the follow-up that
comes back (matched to the interaction it answers, or to none).

Forwards that arrive while the host is away are buffered and replayed when it
reconnects. With --discord-public-key, interactions must carry a valid
Ed25519 signature; without it, unsigned interactions are accepted.

--demo also sends a set of sample interactions (a slash command, a button, a
select menu, a modal, a Twilio SMS) through the edge over HTTP, shows each
one's story, prints a summary, and keeps serving.

Stop with Ctrl-C (SIGINT) or SIGTERM: exit status 0 after a clean shutdown.`

// defaultDevAddr is where the embedded connector listens by default: a
// fixed, memorable loopback port, so curl lines and notes keep working from
// one run to the next.
const defaultDevAddr = "127.0.0.1:8080"

// devHostWait bounds the wait for the host's first handshake with the
// embedded connector: the transport's own handshake budget (30 s,
// wire-contract.md §2.2) plus the plugins' start.
const devHostWait = 35 * time.Second

// devIdentities are the identities dev mode fronts unless --identity says
// otherwise.
func devIdentities() identitiesFlag {
	return identitiesFlag{{Platform: edge.PlatformDiscord, BotID: "dev-bot"}, {Platform: edge.PlatformTwilio, BotID: "dev-number"}}
}

func devCommand(ctx context.Context, env *environment, args []string) error {
	start := time.Now()
	defaults := devIdentities()
	defaultIdentities := defaults.String()
	fs := newFlagSet(env, "dev", "dev [--demo] [--addr ADDR] [--discord-public-key HEX] [flags]", devAbout)
	var demo bool
	var addr, publicKey, dir, agentName, agentURL, listen string
	var ids identitiesFlag
	var lf logFlags
	var jo jetstreamOptions
	if err := boolFlag(fs, &demo, "demo", "RELAY_DEV_DEMO", "send the bundled sample interactions through the edge and show each step, then keep serving"); err != nil {
		return err
	}
	fs.stringVar(&addr, "addr", "RELAY_DEV_ADDR", defaultDevAddr, "address the embedded connector listens on (127.0.0.1:0 picks a free port)")
	fs.stringVar(&publicKey, "discord-public-key", "RELAY_DISCORD_PUBLIC_KEY", "", "Discord application public key (hex); interactions must then be signed with it (default: unsigned interactions accepted)")
	fs.envNames["identity"] = "RELAY_IDENTITIES"
	if v := env.getenv("RELAY_IDENTITIES"); v != "" {
		if err := ids.Set(v); err != nil {
			return fmt.Errorf("$RELAY_IDENTITIES: %w", err)
		}
	}
	fs.Var(&ids, "identity", "PLATFORM:BOT_ID the host fronts; repeatable, the first is the default (default "+defaultIdentities+")")
	fs.pluginsDirFlag(&dir)
	fs.stringVar(&agentName, "agent", "RELAY_AGENT", agent.NameEcho, "agent that takes events: echo, stdout, webhook or jetstream (see 'relay-host run --help')")
	fs.stringVar(&agentURL, "agent-url", "RELAY_AGENT_URL", "", "URL the webhook agent POSTs each event to")
	fs.stringVar(&listen, "listen", "RELAY_LISTEN", "", "address to serve /metrics, /healthz and /readyz on (default: off)")
	if err := fs.jetstreamFlags(&jo, "", "--agent jetstream: directory of the embedded NATS server's store and token (default: a temporary directory, removed at exit)"); err != nil {
		return err
	}
	fs.logFlags(&lf, "warn")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fs.usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if len(ids) == 0 {
		ids = devIdentities()
	}
	logger, err := lf.logger(env.stderr)
	if err != nil {
		return err
	}
	var keys []ed25519.PublicKey
	if publicKey != "" {
		k, err := edge.ParsePublicKey(publicKey)
		if err != nil {
			return fmt.Errorf("--discord-public-key: %w", err)
		}
		keys = append(keys, k)
	}
	var ag agent.Agent
	if agentName == jetstream.Name {
		err = jo.check() // the agent starts below, once the gateway id is known
	} else {
		ag, err = newAgent(agentName, agentURL, env)
	}
	if err != nil {
		return err
	}
	// With a real public key the demo's samples must be signed too: it
	// signs them with a throwaway key that only this run trusts.
	var demoKey ed25519.PrivateKey
	if demo && len(keys) > 0 {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("generate the demo signing key: %w", err)
		}
		keys, demoKey = append(keys, pub), priv
	}

	out := newDevLog(env.stdout, isTerminal(env.stdout) && env.getenv("NO_COLOR") == "", agentName)
	out.setRetain(demo)
	gatewayID, secret := "dev-"+randomHex(4), randomHex(32)
	e, err := edge.Start(edge.Config{Addr: addr, GatewayID: gatewayID, Secret: secret, Identities: ids,
		PublicKeys: keys, OnEvent: out.edgeEvent, Logger: logger})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--addr %s is already in use (another relay-host dev?): pass --addr 127.0.0.1:0 to pick a free port", addr)
		}
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	defer e.Close()
	out.notef("%s", out.heading("relay-host dev: embedded connector on "+e.URL()+" (gateway "+gatewayID+"); starting the plugins and connecting the host"))
	m := metrics.New()
	var dj *devJetStream
	if agentName == jetstream.Name {
		if dj, err = startDevJetStream(ctx, env, &jo, gatewayID, m, logger); err != nil {
			return err
		}
		defer dj.close()
		ag = dj.rt.agent
	}

	ready := make(chan string, 1)
	gwErr := make(chan error, 1)
	gwCtx, stopGateway := context.WithCancel(ctx)
	defer stopGateway()
	gone, markGone := context.WithCancel(context.Background())
	defer markGone()
	go func() {
		gwErr <- runGateway(gwCtx, gatewayConfig{
			connector: e.URL(), gatewayID: gatewayID, secret: secret, identities: ids,
			pluginsDir: dir, agent: ag, listen: listen, logger: logger, metrics: m, jetstream: dj.runtime(),
			ready: func(httpAddr string) { ready <- httpAddr },
			trace: out.step,
		})
		markGone()
	}()

	// Wait for the host to connect, the gateway to fail, or Ctrl-C.
	hctx, cancel := context.WithTimeout(ctx, devHostWait)
	stopWait := context.AfterFunc(gone, cancel)
	err = e.WaitHost(hctx)
	stopWait()
	cancel()
	if err != nil {
		switch {
		case gone.Err() != nil:
			return <-gwErr // the gateway failed to start (it says why)
		case ctx.Err() != nil:
			return <-gwErr // interrupted while starting: a clean stop
		}
		stopGateway()
		<-gwErr
		return fmt.Errorf("the host did not connect to the embedded connector within %s: run with --log-level debug to see why", devHostWait)
	}
	var metricsAddr string
	select {
	case metricsAddr = <-ready:
	case <-gone.Done():
		return <-gwErr
	}
	printDevBanner(out, e, ids, agentName, metricsAddr, publicKey != "", demoKey != nil)
	if dj != nil {
		out.notef("%s", dj.banner())
	}

	if demo {
		dctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(gone, cancel)
		sum, err := runDemo(dctx, e, out, botIDs(ids), demoKey)
		stop()
		cancel()
		out.setRetain(false)
		switch {
		case err == nil:
			out.notef("")
			out.notef("%s", out.heading(sum.line(time.Since(start))))
		case gone.Err() == nil && ctx.Err() == nil:
			stopGateway()
			<-gwErr
			return fmt.Errorf("demo: %w", err)
		}
	}
	if gone.Err() == nil && ctx.Err() == nil {
		out.notef("")
		out.notef("Serving: POST your own requests (see the curl lines above); Ctrl-C to stop.")
	}
	out.setSeparate(true)
	err = <-gwErr
	out.flush()
	if err == nil {
		out.notef("Stopped.")
	}
	return err
}

// printDevBanner prints where to send requests and ready-to-paste curl
// lines.
func printDevBanner(out *devLog, e *edge.Edge, ids identitiesFlag, agentName, metricsAddr string, keyed, demoSigns bool) {
	bots := botIDs(ids)
	discordURL, twilioURL := e.DiscordURL(bots[edge.PlatformDiscord]), e.TwilioURL(bots[edge.PlatformTwilio])
	var b strings.Builder
	fmt.Fprintf(&b, "\nDiscord interactions  POST %s\n", discordURL)
	fmt.Fprintf(&b, "Twilio webhooks       POST %s\n", twilioURL)
	switch {
	case keyed && demoSigns:
		fmt.Fprintf(&b, "Signatures            checked against --discord-public-key (the demo signs its samples with a throwaway key this run also trusts)\n")
	case keyed:
		fmt.Fprintf(&b, "Signatures            checked against --discord-public-key: unsigned or badly signed interactions get 401\n")
	default:
		fmt.Fprintf(&b, "Signatures            not checked (no --discord-public-key): unsigned interactions are accepted\n")
	}
	fmt.Fprintf(&b, "Agent                 %s\n", agentName)
	if metricsAddr != "" {
		fmt.Fprintf(&b, "Metrics               http://%s/metrics\n", metricsAddr)
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
	out.notef("%s", strings.TrimRight(b.String(), "\n"))
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

// boolFlag defines a boolean flag with an environment twin (true/false,
// 1/0, yes is not accepted: strconv.ParseBool's forms).
func boolFlag(fs *flagSet, p *bool, name, envName, usage string) error {
	def := false
	fs.envNames[name] = envName
	if v := fs.env.getenv(envName); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("$%s=%q: want true or false", envName, v)
		}
		def = b
	}
	fs.BoolVar(p, name, def, usage)
	return nil
}
