package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// enrollSecret is the secret the fake connector issues; it must never
// appear in relay-host's output.
const enrollSecret = "enroll-secret-5b7d0c9a1e2f"

// enrollCallerToken is the caller identity token the tests put in a file.
const enrollCallerToken = "caller-token-e2e-41aa"

// enrollRequestSeen is one request the fake connector saw.
type enrollRequestSeen struct {
	path   string
	header http.Header
	body   string
}

// fakeEnrollConnector is a loopback connector whose /relay/enroll answers
// with a scripted status and body (or hangs), recording every request.
type fakeEnrollConnector struct {
	*httptest.Server
	mu       sync.Mutex
	requests []enrollRequestSeen
	status   int
	body     string
	hang     bool
}

func newFakeEnrollConnector(t *testing.T, status int, body string) *fakeEnrollConnector {
	t.Helper()
	f := &fakeEnrollConnector{status: status, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, enrollRequestSeen{path: r.URL.Path, header: r.Header.Clone(), body: string(b)})
		hang := f.hang
		f.mu.Unlock()
		if hang {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEnrollConnector) seen() []enrollRequestSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]enrollRequestSeen(nil), f.requests...)
}

// enrollIssued is the fake connector's 2xx answer.
const enrollIssued = `{"secret":"` + enrollSecret + `","deliveryKey":"dk-e2e","tenant":"tenant-e2e","gatewayId":"gw-e2e"}`

// runEnroll runs the built relay-host enroll in dir with only the given
// RELAY_* environment (the test runner's own RELAY_* variables are dropped).
func runEnroll(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t), bins.relayHost, append([]string{"enroll"}, args...)...)
	cmd.Dir = dir
	cmd.Env = childEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run relay-host enroll %v: %v", args, err)
	}
	if strings.Contains(r.stdout+r.stderr, enrollSecret) || strings.Contains(r.stdout+r.stderr, enrollCallerToken) || strings.Contains(r.stdout+r.stderr, idpClientSecret) {
		t.Errorf("relay-host enroll printed a secret:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	return r
}

// enrollPrivateFile writes a 0600 file holding content.
func enrollPrivateFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readEnrolledFile returns the written file's JSON object and mode.
func readEnrolledFile(t *testing.T, path string) (map[string]string, os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("credentials file %s: %v", data, err)
	}
	return m, st.Mode().Perm()
}

func TestEnrollWritesTheCredentialsFile(t *testing.T) {
	t.Parallel()
	f := newFakeEnrollConnector(t, 200, enrollIssued)
	dir := t.TempDir()
	tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
	r := runEnroll(t, dir, nil, "--connector", f.URL+"/relay", "--token", "enroll-tok-1", "--gateway-id", "gw-asked",
		"--caller-token-file", tokenFile, "--wake-url", "https://gw.example/wake")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	path := filepath.Join(dir, "relay-credentials.json")
	m, mode := readEnrolledFile(t, path)
	want := map[string]string{"connector": f.URL + "/relay", "gateway_id": "gw-e2e", "secret": enrollSecret,
		"delivery_key": "dk-e2e", "tenant": "tenant-e2e", "wake_url": "https://gw.example/wake"}
	if !reflect.DeepEqual(m, want) || mode != 0o600 {
		t.Errorf("credentials file (mode %04o):\n%v\nwant (mode 0600):\n%v", mode, m, want)
	}
	if !strings.Contains(r.stdout, path) || !strings.Contains(r.stdout, "relay-host run --credentials "+path) || !strings.Contains(r.stdout, `"gw-e2e"`) {
		t.Errorf("stdout does not say where the file is and what to run next:\n%s", r.stdout)
	}
	reqs := f.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if reqs[0].path != "/relay/enroll" || reqs[0].body != `{"enrollmentToken":"enroll-tok-1","gatewayId":"gw-asked"}` ||
		reqs[0].header.Get("Authorization") != "Bearer "+enrollCallerToken || !strings.HasPrefix(reqs[0].header.Get("User-Agent"), "relay-host/") {
		t.Errorf("request %s %s %v", reqs[0].path, reqs[0].body, reqs[0].header)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"caller.token", "relay-credentials.json"}) {
		t.Errorf("directory holds %v: a temporary file was left behind", names)
	}
}

func TestEnrollReadsTheEnvironmentTwins(t *testing.T) {
	t.Parallel()
	f := newFakeEnrollConnector(t, 200, enrollIssued)
	dir := t.TempDir()
	tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
	path := filepath.Join(dir, "sub-creds.json")
	r := runEnroll(t, dir, []string{
		"RELAY_CONNECTOR_URL=" + strings.Replace(f.URL, "http://", "ws://", 1) + "/relay/",
		"RELAY_ENROLL_TOKEN=env-token",
		"RELAY_GATEWAY_ID=gw-env",
		"RELAY_CREDENTIALS=" + path,
		"RELAY_CALLER_TOKEN_FILE=" + tokenFile,
	})
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if reqs := f.seen(); len(reqs) != 1 || reqs[0].body != `{"enrollmentToken":"env-token","gatewayId":"gw-env"}` {
		t.Errorf("requests %v", reqs)
	}
	m, _ := readEnrolledFile(t, path)
	if _, has := m["wake_url"]; has || m["secret"] != enrollSecret {
		t.Errorf("credentials %v: want a secret and no wake_url", m)
	}
}

func TestEnrollDefaultGatewayIDIsTheHostName(t *testing.T) {
	t.Parallel()
	f := newFakeEnrollConnector(t, 200, `{"secret":"`+enrollSecret+`"}`)
	dir := t.TempDir()
	tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
	if r := runEnroll(t, dir, nil, "--connector", f.URL, "--token", "t", "--caller-token-file", tokenFile); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	host, _ := os.Hostname()
	if reqs := f.seen(); len(reqs) != 1 || reqs[0].body != `{"enrollmentToken":"t","gatewayId":"gw-`+host+`"}` {
		t.Errorf("requests %v, want gatewayId gw-%s", reqs, host)
	}
	if m, _ := readEnrolledFile(t, filepath.Join(dir, "relay-credentials.json")); m["gateway_id"] != "gw-"+host {
		t.Errorf("gateway_id %q", m["gateway_id"])
	}
}

func TestEnrollRefusesAnExistingFileBeforeSending(t *testing.T) {
	t.Parallel()
	f := newFakeEnrollConnector(t, 200, enrollIssued)
	dir := t.TempDir()
	tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
	path := filepath.Join(dir, "creds.json")
	if err := os.WriteFile(path, []byte("previous"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--connector", f.URL, "--token", "t", "--caller-token-file", tokenFile, "--credentials", path}
	r := runEnroll(t, dir, nil, args...)
	if r.code != exitFailure || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "already exists") ||
		!strings.Contains(r.stderr, "--force") || !strings.Contains(r.stderr, "nothing was sent") {
		t.Errorf("exit %d, stderr: %s", r.code, r.stderr)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("the connector saw %d requests; the refusal must come before any", n)
	}
	if data, _ := os.ReadFile(path); string(data) != "previous" {
		t.Errorf("the existing file was changed to %q", data)
	}
	r = runEnroll(t, dir, nil, append(args, "--force")...)
	if r.code != 0 {
		t.Fatalf("--force: exit %d: %s", r.code, r.stderr)
	}
	if m, mode := readEnrolledFile(t, path); m["secret"] != enrollSecret || mode != 0o600 {
		t.Errorf("after --force: %v mode %04o", m, mode)
	}
}

func TestEnrollUsageErrors(t *testing.T) {
	t.Parallel()
	f := newFakeEnrollConnector(t, 200, enrollIssued)
	dir := t.TempDir()
	tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
	idpSecret := enrollPrivateFile(t, dir, "idp.secret", idpClientSecret)
	base := []string{"--connector", f.URL, "--token", "t"}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no caller identity", base, "a caller identity is required"},
		{"both caller identities", append(append([]string{}, base...), "--caller-token-file", tokenFile, "--idp-token-url", "https://idp.example/token", "--idp-client-id", "c", "--idp-client-secret-file", idpSecret), "not both"},
		{"half a client-credentials identity", append(append([]string{}, base...), "--idp-token-url", "https://idp.example/token"), "--idp-client-id and --idp-client-secret-file"},
		{"no connector", []string{"--token", "t", "--caller-token-file", tokenFile}, "--connector is required"},
		{"no token", []string{"--connector", f.URL, "--caller-token-file", tokenFile}, "--token is required"},
		{"a stray argument", append(append([]string{}, base...), "--caller-token-file", tokenFile, "extra"), `unexpected argument "extra"`},
		{"a bad timeout", append(append([]string{}, base...), "--caller-token-file", tokenFile, "--timeout", "soon"), "--timeout"},
		{"an unknown flag", append(append([]string{}, base...), "--secret", "x"), "flag provided but not defined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runEnroll(t, dir, nil, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "Usage: relay-host enroll") {
				t.Errorf("exit %d, want %d mentioning %q; stderr:\n%s", r.code, exitUsage, tt.want, r.stderr)
			}
		})
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("the connector saw %d requests", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "relay-credentials.json")); err == nil {
		t.Errorf("a credentials file was written")
	}
}

func TestEnrollConnectorFailures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
		hang   bool
		want   []string
	}{
		{"401", 401, `{"error":"token not verified"}`, false, []string{"the connector rejected the caller identity", "token not verified", "--caller-token-file"}},
		{"403", 403, `{"error":"already used"}`, false, []string{"the enrollment token is invalid, expired, already used, or for another tenant", "new enrollment token"}},
		{"500", 500, `{"error":"database unavailable"}`, false, []string{"500 Internal Server Error", "database unavailable"}},
		{"non-JSON", 200, `<html>hello</html>`, false, []string{"not JSON", "--connector"}},
		{"JSON without a secret", 200, `{"tenant":"t","gatewayId":"g"}`, false, []string{"no secret"}},
		{"hang", 0, ``, true, []string{"no answer", "within 500ms", "--timeout"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEnrollConnector(t, tt.status, tt.body)
			f.hang = tt.hang
			dir := t.TempDir()
			tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
			r := runEnroll(t, dir, nil, "--connector", f.URL, "--token", "t", "--caller-token-file", tokenFile, "--timeout", "500ms")
			if r.code != exitFailure {
				t.Errorf("exit %d, want %d", r.code, exitFailure)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
			if _, err := os.Stat(filepath.Join(dir, "relay-credentials.json")); err == nil {
				t.Errorf("a credentials file was written")
			}
		})
	}
}

func TestEnrollRefusesAnInsecureCallerTokenFile(t *testing.T) {
	t.Parallel()
	f := newFakeEnrollConnector(t, 200, enrollIssued)
	dir := t.TempDir()
	tokenFile := enrollPrivateFile(t, dir, "caller.token", enrollCallerToken)
	if err := os.Chmod(tokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runEnroll(t, dir, nil, "--connector", f.URL, "--token", "t", "--caller-token-file", tokenFile)
	if r.code != exitFailure || !strings.Contains(r.stderr, "chmod 600") || !strings.Contains(r.stderr, tokenFile) {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("the connector saw %d requests", n)
	}
}

// idpClientSecret is the client secret the tests give the IdP flow.
const idpClientSecret = "idp-client-secret-33c1"

func TestEnrollWithClientCredentials(t *testing.T) {
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
		io.WriteString(w, `{"access_token":"from-the-idp","token_type":"Bearer","expires_in":300}`)
	}))
	defer idp.Close()
	f := newFakeEnrollConnector(t, 200, enrollIssued)
	dir := t.TempDir()
	secret := enrollPrivateFile(t, dir, "idp.secret", idpClientSecret)
	r := runEnroll(t, dir, []string{
		"RELAY_IDP_TOKEN_URL=" + idp.URL + "/token",
		"RELAY_IDP_CLIENT_ID=gw-client",
		"RELAY_IDP_CLIENT_SECRET_FILE=" + secret,
		"RELAY_IDP_SCOPE=relay.enroll",
	}, "--connector", f.URL, "--token", "t")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"gw-client"}, "client_secret": {idpClientSecret}, "scope": {"relay.enroll"}}
	if len(forms) != 1 || !reflect.DeepEqual(forms[0], want) {
		t.Errorf("token requests %v, want one with %v", forms, want)
	}
	if reqs := f.seen(); len(reqs) != 1 || reqs[0].header.Get("Authorization") != "Bearer from-the-idp" {
		t.Errorf("enroll requests %v", reqs)
	}

	if err := os.Chmod(secret, 0o640); err != nil {
		t.Fatal(err)
	}
	r = runEnroll(t, dir, nil, "--connector", f.URL, "--token", "t", "--credentials", filepath.Join(dir, "second.json"),
		"--idp-token-url", idp.URL, "--idp-client-id", "gw-client", "--idp-client-secret-file", secret)
	if r.code != exitFailure || !strings.Contains(r.stderr, "--idp-client-secret-file") || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("group-readable client secret: exit %d: %s", r.code, r.stderr)
	}
}

func TestEnrollHelpExplainsEveryFlag(t *testing.T) {
	t.Parallel()
	r := runEnroll(t, t.TempDir(), nil, "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, s := range []string{"--connector", "--token", "--gateway-id", "--credentials", "--wake-url", "--force", "--caller-token-file",
		"--idp-token-url", "--idp-client-id", "--idp-client-secret-file", "--idp-scope", "--timeout",
		"$RELAY_CONNECTOR_URL", "$RELAY_ENROLL_TOKEN", "$RELAY_GATEWAY_ID", "$RELAY_CREDENTIALS", "$RELAY_WAKE_URL", "$RELAY_CALLER_TOKEN_FILE",
		"$RELAY_IDP_TOKEN_URL", "$RELAY_IDP_CLIENT_ID", "$RELAY_IDP_CLIENT_SECRET_FILE", "$RELAY_IDP_SCOPE", "$RELAY_ENROLL_FORCE",
		"relay-host run --credentials", "single-use", "0600"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("enroll --help does not mention %s", s)
		}
	}
}

func TestReadCredentialsFlagAdvice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := enrollPrivateFile(t, dir, "good.json", `{"connector":"https://c","gateway_id":"gw-1","secret":"`+enrollSecret+`"}`)
	if c, err := readCredentialsFlag(good); err != nil || c.GatewayID != "gw-1" || c.Secret != enrollSecret {
		t.Fatalf("readCredentialsFlag = %v, %v", c, err)
	}
	open := enrollPrivateFile(t, dir, "open.json", `{"gateway_id":"gw-1","secret":"`+enrollSecret+`"}`)
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "absent.json"), "run 'relay-host enroll --credentials"},
		{"world-readable", open, "chmod 600 " + open},
		{"malformed", enrollPrivateFile(t, dir, "bad.json", `{"gateway_id":`), "enroll again"},
		{"incomplete", enrollPrivateFile(t, dir, "half.json", `{"gateway_id":"gw-1"}`), "has no secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readCredentialsFlag(tt.path)
			if err == nil || !strings.HasPrefix(err.Error(), "--credentials: ") || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("err = %v, want it to name --credentials and the file and say %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), enrollSecret) {
				t.Errorf("error text carries the secret: %v", err)
			}
		})
	}
}
