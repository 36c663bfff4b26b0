package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/relayhost/relay-host/host/control"
)

const enrollAbout = `Enroll this gateway with a connector (self-hosted): trade a single-use
enrollment token for the gateway's credentials and write them to a file.

relay-host POSTs the enrollment token and the gateway id to the connector's
/relay/enroll, proving your tenant with a caller identity token: either read
from a file (--caller-token-file) or fetched from your identity provider with
the OAuth2 client-credentials grant (--idp-token-url, --idp-client-id,
--idp-client-secret-file, optionally --idp-scope). Give exactly one of the
two. The connector answers with the gateway's secret and delivery key; they
are written with the connector URL and the gateway id to --credentials
(mode 0600, replaced atomically). Then start the gateway with:

  relay-host run --credentials PATH --identity PLATFORM:BOT_ID [flags]

The enrollment token works once, so an existing credentials file is refused
before anything is sent, unless --force. The secret is never printed. Prefer
$RELAY_ENROLL_TOKEN to --token: command lines are visible to other users.

Exit status: 0 when the credentials were written, 1 when enrollment failed,
2 for a usage error.`

// defaultCredentialsPath is where enroll writes unless told otherwise; run
// never reads it implicitly.
const defaultCredentialsPath = "relay-credentials.json"

// defaultGatewayIDFallback names the gateway when the host name is unknown
// (the default is gw-<hostname>).
const defaultGatewayIDFallback = "gw-relay-host"

// callerFlags are the caller identity flags shared by enroll and run
// --provision: a token file, or an OAuth2 client-credentials grant.
type callerFlags struct {
	tokenFile        string
	idpTokenURL      string
	idpClientID      string
	idpClientSecFile string
	idpScope         string
}

// callerIdentityFlags adds the caller identity flags to fs.
func (fs *flagSet) callerIdentityFlags(cf *callerFlags) {
	fs.stringVar(&cf.tokenFile, "caller-token-file", "RELAY_CALLER_TOKEN_FILE", "", "file holding the caller identity token (a bearer the connector accepts for your tenant; chmod 600); or use the --idp-* flags")
	fs.stringVar(&cf.idpTokenURL, "idp-token-url", "RELAY_IDP_TOKEN_URL", "", "OAuth2/OIDC token endpoint to fetch the caller identity token from with the client-credentials grant")
	fs.stringVar(&cf.idpClientID, "idp-client-id", "RELAY_IDP_CLIENT_ID", "", "client id for --idp-token-url")
	fs.stringVar(&cf.idpClientSecFile, "idp-client-secret-file", "RELAY_IDP_CLIENT_SECRET_FILE", "", "file holding the client secret for --idp-token-url (chmod 600)")
	fs.stringVar(&cf.idpScope, "idp-scope", "RELAY_IDP_SCOPE", "", "scope to ask --idp-token-url for (default: none)")
}

// set reports whether any caller identity flag was given.
func (cf callerFlags) set() bool {
	return cf.tokenFile != "" || cf.idpTokenURL != "" || cf.idpClientID != "" || cf.idpClientSecFile != "" || cf.idpScope != ""
}

// tokenSource checks that exactly one caller identity is configured and
// returns it. A wrong combination is a usage error; an unreadable client
// secret file is a plain error.
func (cf callerFlags) tokenSource(fs *flagSet) (control.TokenSource, error) {
	idp := cf.idpTokenURL != "" || cf.idpClientID != "" || cf.idpClientSecFile != "" || cf.idpScope != ""
	switch {
	case cf.tokenFile != "" && idp:
		return nil, fs.usageErrorf("give one caller identity, not both: --caller-token-file, or the --idp-* flags")
	case cf.tokenFile != "":
		return control.FileToken(cf.tokenFile), nil
	case !idp:
		return nil, fs.usageErrorf("a caller identity is required to prove your tenant: --caller-token-file PATH, or --idp-token-url URL --idp-client-id ID --idp-client-secret-file PATH")
	case cf.idpTokenURL == "" || cf.idpClientID == "" || cf.idpClientSecFile == "":
		var missing []string
		for _, f := range []struct{ name, v string }{{"--idp-token-url", cf.idpTokenURL}, {"--idp-client-id", cf.idpClientID}, {"--idp-client-secret-file", cf.idpClientSecFile}} {
			if f.v == "" {
				missing = append(missing, f.name)
			}
		}
		return nil, fs.usageErrorf("the client-credentials identity also needs %s", strings.Join(missing, " and "))
	}
	if u, err := url.Parse(cf.idpTokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("--idp-token-url %q: want an absolute https:// URL", cf.idpTokenURL)
	}
	secret, err := control.ReadSecretFile("client secret file", cf.idpClientSecFile)
	if err != nil {
		return nil, fmt.Errorf("--idp-client-secret-file: %w", err)
	}
	return control.ClientCredentials(cf.idpTokenURL, cf.idpClientID, secret, cf.idpScope), nil
}

// defaultGatewayID is gw-<hostname>.
func defaultGatewayID() string {
	h, err := os.Hostname()
	if h = strings.TrimSpace(h); err != nil || h == "" {
		return defaultGatewayIDFallback
	}
	return "gw-" + h
}

func enrollCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "enroll", "enroll --connector URL --token TOKEN [--gateway-id ID] [--credentials PATH] [--wake-url URL] [--force] (--caller-token-file PATH | --idp-token-url URL --idp-client-id ID --idp-client-secret-file PATH [--idp-scope S])", enrollAbout)
	var connector, token, gatewayID, credsPath, wakeURL, timeout string
	var force bool
	var cf callerFlags
	fs.stringVar(&connector, "connector", "RELAY_CONNECTOR_URL", "", "connector URL, e.g. https://connector.example (wss://…/relay works too) (required)")
	fs.stringVar(&token, "token", "RELAY_ENROLL_TOKEN", "", "the single-use enrollment token the connector's operator gave you (required)")
	fs.stringVar(&gatewayID, "gateway-id", "RELAY_GATEWAY_ID", defaultGatewayID(), "id to enroll this gateway under")
	fs.stringVar(&credsPath, "credentials", "RELAY_CREDENTIALS", defaultCredentialsPath, "file to write the credentials to (JSON, mode 0600); pass it to 'relay-host run --credentials'")
	fs.stringVar(&wakeURL, "wake-url", "RELAY_WAKE_URL", "", "URL the connector may GET to wake this gateway when work arrives while it is dormant; recorded in the credentials file")
	if err := boolFlag(fs, &force, "force", "RELAY_ENROLL_FORCE", "replace an existing credentials file"); err != nil {
		return err
	}
	fs.callerIdentityFlags(&cf)
	fs.stringVar(&timeout, "timeout", "RELAY_ENROLL_TIMEOUT", control.DefaultTimeout.String(), "how long to wait for the identity provider and for the connector, each")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fs.usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	token = strings.TrimSpace(token)
	gatewayID = strings.TrimSpace(gatewayID)
	switch {
	case strings.TrimSpace(connector) == "":
		return fs.usageErrorf("--connector is required (or set $RELAY_CONNECTOR_URL)")
	case token == "":
		return fs.usageErrorf("--token is required (or set $RELAY_ENROLL_TOKEN): the single-use enrollment token from the connector's operator")
	case gatewayID == "":
		return fs.usageErrorf("--gateway-id is empty")
	case credsPath == "":
		return fs.usageErrorf("--credentials is empty")
	}
	wait, err := time.ParseDuration(timeout)
	if err != nil || wait <= 0 {
		return fs.usageErrorf("--timeout %q: want a positive duration such as 30s", timeout)
	}
	identity, err := cf.tokenSource(fs)
	if err != nil {
		return err
	}
	if cc, ok := identity.(*control.ClientCredentialsSource); ok {
		cc.Timeout = wait
	}
	if wakeURL != "" {
		if u, err := url.Parse(wakeURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--wake-url %q: want an absolute http(s):// URL that reaches this gateway's /wake", wakeURL)
		}
	}
	client, err := control.NewClient(connector, identity, "relay-host/"+version)
	if err != nil {
		return fmt.Errorf("--connector: %w", err)
	}
	client.Timeout = wait
	// The enrollment token is single-use: make sure the credentials can be
	// written before spending it.
	if err := control.CheckCredentialsPath(credsPath, force); err != nil {
		if errors.Is(err, control.ErrExists) {
			return fmt.Errorf("%w; nothing was sent (the enrollment token works once). Pass --force to replace it, or choose another --credentials path", err)
		}
		return fmt.Errorf("--credentials: %w; nothing was sent", err)
	}
	creds, err := control.Enroll(ctx, client, control.EnrollRequest{EnrollmentToken: token, GatewayID: gatewayID})
	if err != nil {
		return enrollAdvice(err, connector)
	}
	creds.WakeURL = wakeURL
	if err := control.WriteCredentials(credsPath, creds, force); err != nil {
		return fmt.Errorf("enrolled gateway %q, but could not save its credentials: %w. The enrollment token is now spent: ask the connector's operator for a new one, fix the path, and enroll again", creds.GatewayID, err)
	}
	shown := credsPath
	if abs, err := filepath.Abs(credsPath); err == nil {
		shown = abs
	}
	tenant := ""
	if creds.Tenant != "" {
		tenant = " for tenant " + creds.Tenant
	}
	fmt.Fprintf(env.stdout, "Enrolled gateway %q%s at %s.\n", creds.GatewayID, tenant, client.Base)
	fmt.Fprintf(env.stdout, "Wrote the gateway id, secret and delivery key to %s (mode 0600; the secret is not shown).\n", shown)
	fmt.Fprintf(env.stdout, "Next:\n  relay-host run --credentials %s --identity PLATFORM:BOT_ID [flags]\n", shellQuote(shown))
	return nil
}

// enrollAdvice turns an enroll failure into what to do about it.
func enrollAdvice(err error, connector string) error {
	var se *control.StatusError
	var re *control.ResponseError
	var te *control.TransportError
	var ie *control.IdPError
	var fe *control.FileError
	detail := ""
	if errors.As(err, &se) && se.Detail != "" {
		detail = fmt.Sprintf(" (the connector said: %s)", se.Detail)
	}
	switch {
	case errors.Is(err, control.ErrCallerRejected):
		return fmt.Errorf("%w%s: check that --caller-token-file (or the --idp-* flags) yields a token this connector accepts for your tenant", err, detail)
	case errors.Is(err, control.ErrEnrollmentTokenRefused):
		return fmt.Errorf("%w%s: ask the connector's operator for a new enrollment token", err, detail)
	case errors.As(err, &ie):
		return fmt.Errorf("%w: check --idp-token-url, --idp-client-id and --idp-client-secret-file", err)
	case errors.As(err, &fe):
		return fmt.Errorf("%w: check --caller-token-file", err)
	case errors.Is(err, control.ErrTimeout):
		return fmt.Errorf("%w: check --connector %s and that the connector is up, or raise --timeout", err, connector)
	case errors.As(err, &te):
		return fmt.Errorf("%w: check --connector %s and that the connector is reachable", err, connector)
	case errors.As(err, &re):
		return fmt.Errorf("%w: is --connector %s the connector's address?", err, connector)
	}
	return err
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readCredentialsFlag reads the credentials file named by run's
// --credentials (or $RELAY_CREDENTIALS) and says what to do when it cannot.
func readCredentialsFlag(path string) (control.Credentials, error) {
	c, err := control.ReadCredentials(path)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, fs.ErrNotExist):
		return c, fmt.Errorf("--credentials: %w: run 'relay-host enroll --credentials %s …' first, or point --credentials at the file it wrote", err, shellQuote(path))
	case errors.Is(err, control.ErrMalformed), errors.Is(err, control.ErrIncomplete):
		return c, fmt.Errorf("--credentials: %w: this is not a file 'relay-host enroll' wrote; enroll again (with --force to replace it)", err)
	}
	return c, fmt.Errorf("--credentials: %w", err)
}
