package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// The control plane through the real binary: run's --credentials,
// --provision (token file and client credentials), --policy and
// --command-manifest against the test connector's control endpoints.

// ctlCallerToken is the caller identity token of these tests; it must
// never appear in relay-host's output.
const ctlCallerToken = "caller-token-run-7f3e"

// ctlArgs are run's flags without credentials: the test adds them.
func ctlArgs(srv *relaytest.Server, plugins string, extra ...string) []string {
	return append([]string{"run", "--identity", "discord:bot-1", "--identity", "twilio:num-1", "--agent", "echo",
		"--plugins-dir", plugins, "--log-level", "debug"}, extra...)
}

// privateFile writes a file with mode 0600 in a fresh directory.
func privateFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// credentialsFile writes a credentials file as enroll does.
func credentialsFile(t *testing.T, connector, gatewayID, secret string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"connector": connector, "gateway_id": gatewayID, "secret": secret,
		"delivery_key": "dk-1", "tenant": "tenant-1"})
	if err != nil {
		t.Fatal(err)
	}
	return privateFile(t, "relay-credentials.json", string(b))
}

// assertNoSecretsLogged fails when the output carries the secret, the
// caller token, the client secret, or any bearer the connector saw (the
// upgrade tokens and the policy bearers).
func assertNoSecretsLogged(t *testing.T, out string, srv *relaytest.Server) {
	t.Helper()
	secrets := []string{testSecret, ctlCallerToken, idpClientSecret}
	for _, a := range srv.Authorizations() {
		if tok := strings.TrimPrefix(a, "Bearer "); tok != "" {
			secrets = append(secrets, tok)
		}
	}
	for _, path := range []string{relaytest.PolicyPath, relaytest.ProvisionPath} {
		for _, r := range srv.ControlRequests(path) {
			if b := r.Bearer(); b != "" {
				secrets = append(secrets, b)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the output carries a secret or bearer (%.6s…)", s)
		}
	}
}

// stopHost sends SIGTERM and expects a clean exit.
func stopHost(t *testing.T, p *process) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

func TestRunReadsTheCredentialsFile(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	plugins := pluginsDir(t, false)

	t.Run("from the file alone", func(t *testing.T) {
		creds := credentialsFile(t, srv.URL(), testGatewayID, testSecret)
		dials := srv.Dials()
		p := start(t, nil, ctlArgs(srv, plugins, "--credentials", creds)...)
		if err := srv.WaitHandshake(testCtx(t), dials+1); err != nil {
			t.Fatalf("%v\n%s", err, p.stderr.String())
		}
		if srv.AuthFailures() != 0 {
			t.Fatalf("the upgrade was refused: the file's credentials were not used")
		}
		stopHost(t, p)
		assertNoSecretsLogged(t, p.stderr.String(), srv)
	})
	t.Run("flags and environment win over the file", func(t *testing.T) {
		// The file names another connector and gateway; the flag and the
		// environment put them right.
		creds := credentialsFile(t, "http://127.0.0.1:1", "gw-from-the-file", testSecret)
		dials := srv.Dials()
		p := start(t, []string{"RELAY_GATEWAY_ID=" + testGatewayID}, ctlArgs(srv, plugins, "--credentials", creds, "--connector", srv.URL())...)
		if err := srv.WaitHandshake(testCtx(t), dials+1); err != nil {
			t.Fatalf("%v\n%s", err, p.stderr.String())
		}
		if srv.AuthFailures() != 0 {
			t.Fatal("the upgrade was refused: the file's gateway id won over $RELAY_GATEWAY_ID")
		}
		stopHost(t, p)
	})
	t.Run("environment twin", func(t *testing.T) {
		creds := credentialsFile(t, srv.URL(), testGatewayID, testSecret)
		dials := srv.Dials()
		p := start(t, []string{"RELAY_CREDENTIALS=" + creds}, ctlArgs(srv, plugins)...)
		if err := srv.WaitHandshake(testCtx(t), dials+1); err != nil {
			t.Fatalf("%v\n%s", err, p.stderr.String())
		}
		stopHost(t, p)
	})
}

func TestRunRefusesABadCredentialsFile(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	plugins := pluginsDir(t, false)
	good := `{"connector":"` + srv.URL() + `","gateway_id":"` + testGatewayID + `","secret":"` + testSecret + `"}`
	groupReadable := privateFile(t, "group.json", good)
	worldReadable := privateFile(t, "world.json", good)
	for path, mode := range map[string]os.FileMode{groupReadable: 0o640, worldReadable: 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "absent.json"), "does not exist"},
		{"unreadable (a directory)", t.TempDir(), "is not a regular file"},
		{"group-readable", groupReadable, "chmod 600 " + groupReadable},
		{"world-readable", worldReadable, "chmod 600 " + worldReadable},
		{"malformed JSON", privateFile(t, "bad.json", `{"gateway_id": "gw", "secret": `), "is not valid JSON"},
		{"not an object", privateFile(t, "list.json", `["gw"]`), "is not a JSON object"},
		{"no secret", privateFile(t, "half.json", `{"gateway_id":"gw"}`), "has no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, nil, ctlArgs(srv, plugins, "--credentials", tt.path)...)
			code := p.wait(t)
			out := p.stderr.String()
			if code != exitFailure || !strings.Contains(out, "--credentials") || !strings.Contains(out, tt.path) || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming --credentials, the file and %q", code, out, tt.want)
			}
			if strings.Contains(out, testSecret) {
				t.Error("the error output carries the secret")
			}
		})
	}
	if srv.Dials() != 0 {
		t.Errorf("dials = %d: a bad credentials file must stop the host before it dials", srv.Dials())
	}
}

// provisionBody is the exact body relay-host must send.
func provisionBody(platform, botID string, extra ...string) map[string]any {
	m := map[string]any{"gatewayId": testGatewayID, "platform": platform, "botId": botID, "gatewayEndpoint": "", "routeKeys": []any{}}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// issuing answers every provision request with the test secret, like the
// connector's first answer.
func issuing(req relaytest.ControlRequest) relaytest.ControlReply {
	return relaytest.JSONReply(200, map[string]any{"secret": testSecret, "deliveryKey": "dk", "tenant": "t1", "gatewayId": testGatewayID, "routeKeys": []string{}})
}

func TestRunProvisions(t *testing.T) {
	t.Parallel()
	plugins := pluginsDir(t, false)
	token := privateFile(t, "caller.token", ctlCallerToken+"\n")
	t.Run("once per identity; the first secret wins; unset keys omitted", func(t *testing.T) {
		srv := connector(t, relaytest.Options{}) // the first answer issues the secret, later ones withhold it
		p := start(t, nil, ctlArgs(srv, plugins, "--connector", srv.URL(), "--provision", "--caller-token-file", token, "--gateway-id", testGatewayID)...)
		if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
			t.Fatalf("%v\n%s", err, p.stderr.String())
		}
		reqs := srv.ControlRequests(relaytest.ProvisionPath)
		if len(reqs) != 2 {
			t.Fatalf("%d provision requests, want one per identity", len(reqs))
		}
		for i, want := range []map[string]any{provisionBody("discord", "bot-1"), provisionBody("twilio", "num-1")} {
			r := reqs[i]
			if !reflect.DeepEqual(r.JSON, want) {
				t.Errorf("provision %d body = %s, want %v", i, r.Body, want)
			}
			if r.Bearer() != ctlCallerToken || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
				t.Errorf("provision %d headers = %v", i, r.Header)
			}
		}
		// The gateway id the connector answered with authenticates the link.
		if srv.AuthFailures() != 0 {
			t.Error("the provisioned credentials were refused")
		}
		stopHost(t, p)
		assertNoSecretsLogged(t, p.stderr.String(), srv)
	})
	t.Run("instance id and wake URL sent when set; the gateway id defaults to gw-<hostname>", func(t *testing.T) {
		// A connector that takes any gateway id the secret signs.
		srv := relaytest.New(relaytest.Options{Secrets: []string{testSecret}})
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		p := start(t, []string{"RELAY_PROVISION=true", "RELAY_CALLER_TOKEN_FILE=" + token, "RELAY_INSTANCE_ID=inst-9"},
			ctlArgs(srv, plugins, "--connector", srv.URL(), "--wake-url", "https://gw.example/wake")...)
		if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
			t.Fatalf("%v\n%s", err, p.stderr.String())
		}
		reqs := srv.ControlRequests(relaytest.ProvisionPath)
		host, _ := os.Hostname()
		want := provisionBody("discord", "bot-1", "instanceId", "inst-9", "wakeUrl", "https://gw.example/wake")
		want["gatewayId"] = "gw-" + host
		if len(reqs) != 2 || !reflect.DeepEqual(reqs[0].JSON, want) {
			t.Fatalf("provision requests = %d, first %s, want %v", len(reqs), reqs[0].Body, want)
		}
		if keys := strings.Join(reqs[0].Keys, ","); keys != "gatewayId,platform,botId,gatewayEndpoint,routeKeys,instanceId,wakeUrl" {
			t.Errorf("keys in order: %s", keys)
		}
		stopHost(t, p)
	})
	t.Run("a configured secret is not provisioned", func(t *testing.T) {
		srv := connector(t, relaytest.Options{})
		p := start(t, nil, append(runArgs(srv, secretFile(t), plugins), "--provision", "--caller-token-file", token)...)
		if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.ControlRequests(relaytest.ProvisionPath)); n != 0 {
			t.Errorf("%d provision requests with a secret configured, want none", n)
		}
		stopHost(t, p)
	})
}

func TestRunProvisionFaults(t *testing.T) {
	t.Parallel()
	plugins := pluginsDir(t, false)
	token := privateFile(t, "caller.token", ctlCallerToken)
	faults := []struct {
		name   string
		answer relaytest.ControlReply
		reason string
	}{
		{"not JSON", relaytest.ControlReply{Status: 200, Body: "<html>hello</html>"}, "not JSON"},
		{"JSON without secret", relaytest.ControlReply{Status: 200, Body: `{"tenant":"t1","gatewayId":"gw"}`}, "neither secret nor secretIssued"},
		{"5xx", relaytest.ControlReply{Status: 503, Body: `{"error":"maintenance"}`}, "503 Service Unavailable: maintenance"},
		{"401", relaytest.ControlReply{Status: 401, Body: `{"error":"bad token"}`}, "rejected the caller identity"},
		{"hangs", relaytest.ControlReply{Hang: true}, "no answer from"},
	}
	for _, f := range faults {
		t.Run(f.name+": the platform is skipped", func(t *testing.T) {
			srv := connector(t, relaytest.Options{})
			srv.SetControl(relaytest.ProvisionPath, func(r relaytest.ControlRequest) relaytest.ControlReply {
				if r.JSON["platform"] == "discord" {
					return f.answer
				}
				return issuing(r)
			})
			began := time.Now()
			p := start(t, nil, ctlArgs(srv, plugins, "--connector", srv.URL(), "--gateway-id", testGatewayID, "--provision", "--caller-token-file", token, "--control-timeout", "1s")...)
			ctx := testCtx(t)
			if err := srv.WaitHandshake(ctx, 1); err != nil {
				t.Fatalf("the host did not connect with the platform that did provision: %v\n%s", err, p.stderr.String())
			}
			if f.answer.Hang && time.Since(began) > scenarioTimeout/2 {
				t.Errorf("a hung provision held the start for %s", time.Since(began))
			}
			if err := p.stderr.waitFor(ctx, "provisioning failed for this platform; skipped", 1); err != nil {
				t.Fatal(err)
			}
			out := p.stderr.String()
			if !strings.Contains(out, "platform=discord") || !strings.Contains(out, f.reason) {
				t.Errorf("the log does not name discord and %q:\n%s", f.reason, out)
			}
			stopHost(t, p)
			assertNoSecretsLogged(t, p.stderr.String(), srv)
		})
		t.Run(f.name+": no secret at all is exit 1", func(t *testing.T) {
			srv := connector(t, relaytest.Options{})
			srv.SetControl(relaytest.ProvisionPath, func(relaytest.ControlRequest) relaytest.ControlReply { return f.answer })
			p := start(t, nil, "run", "--connector", srv.URL(), "--identity", "discord:bot-1", "--plugins-dir", plugins,
				"--provision", "--caller-token-file", token, "--control-timeout", "1s")
			code := p.wait(t)
			out := p.stderr.String()
			if code != exitFailure || !strings.Contains(out, "--provision: no credentials") || !strings.Contains(out, f.reason) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 saying no credentials and %q", code, out, f.reason)
			}
			if srv.Dials() != 0 {
				t.Errorf("dials = %d without credentials", srv.Dials())
			}
			assertNoSecretsLogged(t, out, srv)
		})
	}
	t.Run("withheld everywhere is exit 1", func(t *testing.T) {
		srv := connector(t, relaytest.Options{})
		srv.SetControl(relaytest.ProvisionPath, func(relaytest.ControlRequest) relaytest.ControlReply {
			return relaytest.JSONReply(200, map[string]any{"secretIssued": false, "tenant": "t1"})
		})
		p := start(t, nil, ctlArgs(srv, plugins, "--connector", srv.URL(), "--provision", "--caller-token-file", token)...)
		if code := p.wait(t); code != exitFailure || !strings.Contains(p.stderr.String(), "issued no secret") {
			t.Errorf("exit %d, stderr:\n%s", code, p.stderr.String())
		}
	})
}

func TestRunProvisionWithClientCredentials(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var forms []url.Values
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		mu.Lock()
		forms = append(forms, form)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"`+ctlCallerToken+`","token_type":"Bearer","expires_in":300}`)
	}))
	t.Cleanup(idp.Close)
	srv := connector(t, relaytest.Options{})
	secret := privateFile(t, "idp.secret", idpClientSecret)
	p := start(t, nil, ctlArgs(srv, pluginsDir(t, false), "--connector", srv.URL(), "--provision", "--gateway-id", testGatewayID,
		"--idp-token-url", idp.URL+"/token", "--idp-client-id", "gw-client", "--idp-client-secret-file", secret, "--idp-scope", "relay.provision")...)
	if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
		t.Fatalf("%v\n%s", err, p.stderr.String())
	}
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"gw-client"}, "client_secret": {idpClientSecret}, "scope": {"relay.provision"}}
	mu.Lock()
	got := append([]url.Values(nil), forms...)
	mu.Unlock()
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("token requests %v, want one (fetched once for every platform) with %v", got, want)
	}
	for _, r := range srv.ControlRequests(relaytest.ProvisionPath) {
		if r.Bearer() != ctlCallerToken {
			t.Errorf("provision %s went without the IdP's token", r.JSON["platform"])
		}
	}
	stopHost(t, p)
	assertNoSecretsLogged(t, p.stderr.String(), srv)
}

const testPolicies = `[
  {"platform": "discord", "requireAddress": true, "freeResponseScopes": ["chan-1"], "allowOtherBots": false},
  {"platform": "twilio"}
]`

func TestRunPostsPoliciesAtEveryStart(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	plugins := pluginsDir(t, false)
	policy := privateFile(t, "policy.json", testPolicies)
	ctx := testCtx(t)
	for boot := 1; boot <= 2; boot++ {
		p := start(t, nil, runArgs(srv, secretFile(t), plugins, "--policy", policy)...)
		if err := srv.WaitHandshake(ctx, boot); err != nil {
			t.Fatal(err)
		}
		reqs, err := srv.WaitControl(ctx, relaytest.PolicyPath, 2*boot)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.stderr.waitFor(ctx, "relevance policy accepted: platform=twilio", 1); err != nil {
			t.Fatal(err)
		}
		reqs = reqs[2*(boot-1):]
		want := []map[string]any{
			{"platform": "discord", "requireAddress": true, "freeResponseScopes": []any{"chan-1"}, "allowOtherBots": false},
			{"platform": "twilio", "requireAddress": false, "freeResponseScopes": []any{}, "allowOtherBots": false},
		}
		for i, r := range reqs {
			if !reflect.DeepEqual(r.JSON, want[i]) {
				t.Errorf("boot %d policy %d = %s, want %v", boot, i, r.Body, want[i])
			}
			if payload, ok := relay.VerifyToken(r.Bearer(), []string{testSecret}, time.Now()); !ok || payload != testGatewayID {
				t.Errorf("boot %d policy %d is not signed with an upgrade token for the gateway", boot, i)
			}
		}
		stopHost(t, p)
		assertNoSecretsLogged(t, p.stderr.String(), srv)
	}
}

func TestRunPolicyFailuresNeverBlockTheLink(t *testing.T) {
	t.Parallel()
	plugins := pluginsDir(t, false)
	policy := privateFile(t, "policy.json", testPolicies)
	for _, tt := range []struct {
		name   string
		answer relaytest.ControlReply
		want   string
	}{
		{"500", relaytest.ControlReply{Status: 500, Body: `{"error":"boom"}`}, "500 Internal Server Error: boom"},
		{"hangs", relaytest.ControlReply{Hang: true}, "no answer from"},
		// Hangs past the scenario's deadline: the link must come up
		// meanwhile, and SIGTERM must not wait for it.
		{"hangs for ever", relaytest.ControlReply{Hang: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := connector(t, relaytest.Options{})
			srv.SetControl(relaytest.PolicyPath, func(relaytest.ControlRequest) relaytest.ControlReply { return tt.answer })
			timeout := "1s"
			if tt.want == "" {
				timeout = "10m"
			}
			p := start(t, nil, runArgs(srv, secretFile(t), plugins, "--policy", policy, "--control-timeout", timeout)...)
			ctx := testCtx(t)
			if err := srv.WaitHandshake(ctx, 1); err != nil {
				t.Fatalf("the link waited for the policies: %v", err)
			}
			if tt.want != "" {
				if err := p.stderr.waitFor(ctx, "relevance policy not accepted", 2); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(p.stderr.String(), tt.want) {
					t.Errorf("the log does not say %q:\n%s", tt.want, p.stderr.String())
				}
			} else if _, err := srv.WaitControl(ctx, relaytest.PolicyPath, 1); err != nil {
				t.Fatal(err)
			}
			stopHost(t, p)
			assertNoSecretsLogged(t, p.stderr.String(), srv)
		})
	}
}

func TestRunRefusesABadPolicyOrManifestBeforeDialing(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	plugins := pluginsDir(t, false)
	secret := secretFile(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"policy with an unknown key", []string{"--policy", privateFile(t, "p.json", `[{"platform":"discord"},{"platform":"twilio","requireAdress":true}]`)}, `policy 1: "requireAdress"`},
		{"policy not an array", []string{"--policy", privateFile(t, "p.json", `{"platform":"discord"}`)}, "not a JSON array"},
		{"missing policy file", []string{"--policy", "/nonexistent/policy.json"}, "does not exist"},
		{"manifest name", []string{"--command-manifest", privateFile(t, "m.json", `[{"name":"ok","description":"fine"},{"name":"Bad Name","description":"x"}]`)}, `"Bad Name"`},
		{"manifest description too long in UTF-16", []string{"--command-manifest", privateFile(t, "m.json", `[{"name":"emoji","description":"`+strings.Repeat("😀", 51)+`"}]`)}, "102 UTF-16 code units"},
		{"manifest entry without a name", []string{"--command-manifest", privateFile(t, "m.json", `[{"description":"x"}]`)}, "command 0"},
		{"manifest options not an array", []string{"--command-manifest", privateFile(t, "m.json", `[{"name":"a","description":"b","options":{}}]`)}, "options must be an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, nil, runArgs(srv, secret, plugins, tt.args...)...)
			code := p.wait(t)
			if out := p.stderr.String(); code != exitFailure || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming %q", code, out, tt.want)
			}
		})
	}
	if srv.Dials() != 0 {
		t.Errorf("dials = %d: a bad file must stop the host before it dials", srv.Dials())
	}
}

func TestRunSendsTheCommandManifestOnTheDiscordHello(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	const manifest = `[
  {"name": "ask", "description": "Ask the agent", "options": [{"type": 3, "name": "question", "description": "What to ask", "required": true}]},
  {"name": "stop", "description": "Stop the current turn"}
]`
	path := privateFile(t, "commands.json", manifest)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--command-manifest", path)...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Re-sent on every reconnect.
	if err := srv.CloseConn(1012, "restart"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(manifest), &want); err != nil {
		t.Fatal(err)
	}
	discord := 0
	for _, h := range srv.Hellos() {
		switch h.Platform {
		case "discord":
			discord++
			if err := json.Unmarshal(h.CommandManifest, &got); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("discord hello on connection %d carries %s", h.Conn, h.CommandManifest)
			}
		default:
			if h.CommandManifest != nil || strings.Contains(string(h.Raw), "command_manifest") {
				t.Errorf("%s hello carries a manifest: %s", h.Platform, h.Raw)
			}
		}
	}
	if discord != 2 {
		t.Errorf("%d discord hellos, want one per connection", discord)
	}
	stopHost(t, p)
}

func TestRunHelpExplainsTheControlFlags(t *testing.T) {
	t.Parallel()
	r := relayHost(t, "", "run", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, s := range []string{"--credentials", "--provision", "--caller-token-file", "--idp-token-url", "--idp-client-id",
		"--idp-client-secret-file", "--idp-scope", "--instance-id", "--wake-url", "--policy", "--command-manifest",
		"--control-timeout", "--dormant-after", "--dormant-exit",
		"$RELAY_CREDENTIALS", "$RELAY_PROVISION", "$RELAY_CALLER_TOKEN_FILE", "$RELAY_IDP_TOKEN_URL", "$RELAY_INSTANCE_ID",
		"$RELAY_WAKE_URL", "$RELAY_POLICY", "$RELAY_COMMAND_MANIFEST", "$RELAY_CONTROL_TIMEOUT", "$RELAY_DORMANT_AFTER",
		"$RELAY_DORMANT_EXIT", "/wake", "SIGUSR1"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("run --help does not mention %s", s)
		}
	}
}

func TestRunControlUsageErrors(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	plugins := pluginsDir(t, false)
	token := privateFile(t, "caller.token", ctlCallerToken)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"caller identity without --provision", runArgs(srv, secretFile(t), plugins, "--caller-token-file", token), "only with --provision"},
		{"--provision without a caller identity", ctlArgs(srv, plugins, "--connector", srv.URL(), "--provision"), "a caller identity is required"},
		{"--dormant-exit alone", runArgs(srv, secretFile(t), plugins, "--dormant-exit"), "--dormant-exit needs --dormant-after"},
		{"bad --dormant-after", runArgs(srv, secretFile(t), plugins, "--dormant-after", "soon"), "--dormant-after"},
		{"no connector anywhere", []string{"run", "--identity", "discord:1"}, "--connector is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, nil, tt.args...)
			if code := p.wait(t); code != exitUsage || !strings.Contains(p.stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 saying %q", code, p.stderr.String(), tt.want)
			}
		})
	}
	p := start(t, nil, ctlArgs(srv, plugins, "--connector", srv.URL(), "--policy", privateFile(t, "p.json", testPolicies))...)
	if code := p.wait(t); code != exitFailure || !strings.Contains(p.stderr.String(), "--policy needs credentials") {
		t.Errorf("policy without credentials: exit %d, stderr:\n%s", code, p.stderr.String())
	}
}
