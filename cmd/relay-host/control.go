package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/control"
	"github.com/relayhost/relay-host/host/relay"
)

// run's control-plane wiring: where the credentials come from (the file
// enroll wrote, or self-provisioning), the relevance policies and the
// Discord command manifest sent at start, and dormancy (scale to zero):
// --dormant-after, --dormant-exit, /wake and SIGUSR1.

// controlFlags are run's control-plane flags.
type controlFlags struct {
	credentials  string
	provision    bool
	caller       callerFlags
	instanceID   string
	wakeURL      string
	policy       string
	manifest     string
	timeout      string
	dormantAfter string
	dormantExit  bool
}

// controlFlags adds run's control-plane flags to fs.
func (fs *flagSet) controlFlags(cf *controlFlags) error {
	fs.stringVar(&cf.credentials, "credentials", "RELAY_CREDENTIALS", "", "credentials file that 'relay-host enroll' wrote (connector, gateway id, secret, wake URL); --connector, --gateway-id, --secret-file / $RELAY_SECRET and --wake-url win over its values")
	if err := boolFlag(fs, &cf.provision, "provision", "RELAY_PROVISION", "hosted deployments: when no secret is configured, self-provision at start, once per --identity, proving the tenant with --caller-token-file or the --idp-* flags; the credentials are kept in memory only"); err != nil {
		return err
	}
	fs.callerIdentityFlags(&cf.caller)
	fs.stringVar(&cf.instanceID, "instance-id", "RELAY_INSTANCE_ID", "", "hosting instance id sent with --provision (default: none)")
	fs.stringVar(&cf.wakeURL, "wake-url", "RELAY_WAKE_URL", "", "URL the connector GETs to wake this gateway when work arrives while it is dormant; point it at /wake on --listen. Sent with --provision (default: the credentials file's)")
	fs.stringVar(&cf.policy, "policy", "RELAY_POLICY", "", "relevance policy file: a JSON array of {platform, requireAddress, freeResponseScopes, allowOtherBots}, checked at start and sent to the connector at every start (default: none)")
	fs.stringVar(&cf.manifest, "command-manifest", "RELAY_COMMAND_MANIFEST", "", "Discord command manifest file: a JSON array of {name, description, options?}, checked before dialing and sent on the discord hello (default: none)")
	fs.stringVar(&cf.timeout, "control-timeout", "RELAY_CONTROL_TIMEOUT", control.DefaultTimeout.String(), "how long to wait for the identity provider and for each provision or policy request")
	fs.stringVar(&cf.dormantAfter, "dormant-after", "RELAY_DORMANT_AFTER", "", "go dormant after this long without activity, e.g. 10m: ask the connector to buffer, close the link, keep the plugins up, and dial again on a wake (GET or POST /wake on --listen, SIGUSR1, or an agent API call) (default: never)")
	return boolFlag(fs, &cf.dormantExit, "dormant-exit", "RELAY_DORMANT_EXIT", "with --dormant-after: exit 0 once dormant instead of waiting for a wake, for platforms that start the container on the wake request")
}

// linkSettings are what the control-plane flags change in the link.
type linkSettings struct {
	commandManifest json.RawMessage
	dormantAfter    time.Duration
	dormantExit     bool
}

// apply sets them on the transport's configuration.
func (s linkSettings) apply(rc *relay.Config) {
	rc.CommandManifest = s.commandManifest
	rc.DormantAfter = s.dormantAfter
	rc.DormantExit = s.dormantExit
}

// controlPlan is the outcome of the control-plane flags: the credentials
// to dial with, the link settings, and the policies to send once running.
type controlPlan struct {
	connector, gatewayID, secret string
	link                         linkSettings
	policies                     []control.Policy
	timeout                      time.Duration
}

// resolve checks the control-plane flags, reads the files they
// name, and provisions when asked: connector, gatewayID and secret are
// the values the flags and environment gave (they win over the credentials
// file). Configuration errors come first, before anything is sent.
func (cf controlFlags) resolve(ctx context.Context, fs *flagSet, log hclog.Logger, connector, gatewayID, secret string, ids identitiesFlag) (controlPlan, error) {
	p := controlPlan{connector: connector, gatewayID: gatewayID, secret: secret}
	var err error
	if p.timeout, err = time.ParseDuration(cf.timeout); err != nil || p.timeout <= 0 {
		return p, fs.usageErrorf("--control-timeout %q: want a positive duration such as 30s", cf.timeout)
	}
	if cf.dormantAfter != "" {
		if p.link.dormantAfter, err = time.ParseDuration(cf.dormantAfter); err != nil || p.link.dormantAfter < 0 {
			return p, fs.usageErrorf("--dormant-after %q: want a duration such as 10m (0 never goes dormant)", cf.dormantAfter)
		}
	}
	if cf.dormantExit && p.link.dormantAfter <= 0 {
		return p, fs.usageErrorf("--dormant-exit needs --dormant-after")
	}
	p.link.dormantExit = cf.dormantExit
	if !cf.provision && (cf.caller.set() || cf.instanceID != "") {
		return p, fs.usageErrorf("--caller-token-file, the --idp-* flags and --instance-id are used only with --provision")
	}
	if cf.manifest != "" {
		if p.link.commandManifest, err = control.LoadManifest(cf.manifest); err != nil {
			return p, fmt.Errorf("--command-manifest: %w", err)
		}
		if !fronts(ids, "discord") {
			log.Warn("--command-manifest is sent on the discord hello only, and no --identity is discord: it is not sent")
		}
	}
	if cf.policy != "" {
		if p.policies, err = control.LoadPolicies(cf.policy); err != nil {
			return p, fmt.Errorf("--policy: %w", err)
		}
	}
	wakeURL := cf.wakeURL
	if cf.credentials != "" {
		creds, err := readCredentialsFlag(cf.credentials)
		if err != nil {
			return p, err
		}
		p.connector = firstSet(p.connector, creds.Connector)
		p.gatewayID = firstSet(p.gatewayID, creds.GatewayID)
		p.secret = firstSet(p.secret, creds.Secret)
		wakeURL = firstSet(wakeURL, creds.WakeURL)
	}
	if p.connector == "" {
		return p, fs.usageErrorf("--connector is required (or set $RELAY_CONNECTOR_URL, or give --credentials)")
	}
	if wakeURL != "" {
		if u, err := url.Parse(wakeURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return p, fmt.Errorf("--wake-url %q: want an absolute http(s):// URL that reaches this gateway's /wake", wakeURL)
		}
	}
	switch {
	case cf.provision && p.secret != "":
		log.Info("a secret is configured: not provisioning", "gateway_id", p.gatewayID)
	case cf.provision:
		if err := cf.provisionInto(ctx, fs, log, &p, wakeURL, ids); err != nil {
			return p, err
		}
	}
	if len(p.policies) > 0 && (p.gatewayID == "" || p.secret == "") {
		return p, errors.New("--policy needs credentials to sign its requests: give --gateway-id and a secret, --credentials, or --provision")
	}
	return p, nil
}

// provisionInto self-provisions every identity and sets p's gateway id
// and secret from the first answer that issues one.
func (cf controlFlags) provisionInto(ctx context.Context, fs *flagSet, log hclog.Logger, p *controlPlan, wakeURL string, ids identitiesFlag) error {
	identity, err := cf.caller.tokenSource(fs)
	if err != nil {
		return err
	}
	if cc, ok := identity.(*control.ClientCredentialsSource); ok {
		cc.Timeout = p.timeout
	}
	client, err := control.NewClient(p.connector, identity, "relay-host/"+version)
	if err != nil {
		return fmt.Errorf("--connector: %w", err)
	}
	client.Timeout = p.timeout
	if p.gatewayID == "" {
		p.gatewayID = defaultGatewayID()
	}
	targets := make([]control.Identity, len(ids))
	for i, id := range ids {
		targets[i] = control.Identity{Platform: id.Platform, BotID: id.BotID}
	}
	log.Info("provisioning", "connector", client.Base, "gateway_id", p.gatewayID, "platforms", len(targets))
	creds, failures := control.ProvisionAll(ctx, client, control.ProvisionRequest{
		GatewayID: p.gatewayID, InstanceID: cf.instanceID, WakeURL: wakeURL,
	}, targets)
	for _, f := range failures {
		log.Warn("provisioning failed for this platform; skipped", "platform", f.Platform, "error", provisionAdvice(f.Err, p.connector))
	}
	if creds.Secret == "" {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		why := "the connector issued no secret (every answer withheld it)"
		if len(failures) == len(targets) {
			why = "every platform failed"
			if len(failures) == 1 {
				why = provisionAdvice(failures[0].Err, p.connector)
			}
		}
		return fmt.Errorf("--provision: no credentials: %s; the log names each platform's reason", why)
	}
	p.gatewayID, p.secret = creds.GatewayID, creds.Secret
	log.Info("provisioned: credentials held in memory", "gateway_id", p.gatewayID, "tenant", creds.Tenant,
		"platforms_failed", len(failures))
	return nil
}

// provisionAdvice words a provision failure with what to check.
func provisionAdvice(err error, connector string) string {
	var ie *control.IdPError
	var fe *control.FileError
	var re *control.ResponseError
	switch {
	case errors.Is(err, control.ErrCallerRejected):
		return err.Error() + ": check that --caller-token-file (or the --idp-* flags) yields a token this connector accepts for your tenant"
	case errors.As(err, &ie):
		return err.Error() + ": check --idp-token-url, --idp-client-id and --idp-client-secret-file"
	case errors.As(err, &fe):
		return err.Error() + ": check --caller-token-file"
	case errors.Is(err, control.ErrTimeout):
		return err.Error() + ": check that the connector at " + connector + " is up, or raise --control-timeout"
	case errors.As(err, &re):
		return err.Error() + ": is --connector " + connector + " the connector's address?"
	}
	return err.Error()
}

// firstSet returns a when it is set, else b.
func firstSet(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

func fronts(ids identitiesFlag, platform string) bool {
	for _, id := range ids {
		if id.Platform == platform {
			return true
		}
	}
	return false
}

// postPolicies declares each relevance policy to the connector, signed
// with a fresh upgrade token per request. Failures are logged; they never
// hold the link back.
func postPolicies(ctx context.Context, log hclog.Logger, p controlPlan) {
	client, err := control.NewClient(p.connector, nil, "relay-host/"+version)
	if err != nil {
		log.Warn("relevance policies not sent", "error", err)
		return
	}
	client.Timeout = p.timeout
	for _, pol := range p.policies {
		bearer := relay.MakeUpgradeToken(p.gatewayID, p.secret, time.Now())
		if err := control.PostPolicy(ctx, client, bearer, pol); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("relevance policy not accepted; the connector keeps its previous one", "platform", pol.Platform, "error", err)
			continue
		}
		log.Info("relevance policy accepted", "platform", pol.Platform)
	}
}

// startPolicies posts the policies in the background; the returned stop
// cancels what is still in flight and waits for it.
func startPolicies(log hclog.Logger, p controlPlan) (stop func()) {
	if len(p.policies) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		postPolicies(ctx, log, p)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// wakeAnswer is /wake's answer body.
type wakeAnswer struct {
	State relay.WakeState `json:"state"`
}

// wakeHandler serves GET and POST /wake: payload-free and unsigned (the
// connector's wake call carries nothing), it asks a dormant link to dial
// (the transport allows one wake dial per second, however many requests
// come) and answers 202 {"state":"waking"|"connected"}.
func wakeHandler(client *relay.Client, log hclog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state := client.Wake()
		log.Debug("wake requested", "method", r.Method, "state", state)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(wakeAnswer{State: state})
	}
}

// dormantReason is /readyz's reason while the link is dormant.
const dormantReason = "dormant: the link is closed until a wake (GET or POST /wake, SIGUSR1, or an agent API call); the connector buffers meanwhile"

// wakeOnSignal wakes the link on SIGUSR1 until stop is called.
func wakeOnSignal(client *relay.Client, log hclog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ch:
				log.Info("SIGUSR1: waking the link", "state", client.Wake())
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
	}
}
