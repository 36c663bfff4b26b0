package control

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFileToken(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		content string
		mode    fs.FileMode
		want    string
		cause   error
	}{
		{"trimmed", "  " + callerToken + "\n\n", 0o600, callerToken, nil},
		{"owner read-only", callerToken, 0o400, callerToken, nil},
		{"empty", " \n\t", 0o600, "", ErrEmptyFile},
		{"world-readable", callerToken, 0o644, "", ErrInsecureFile},
		{"group-readable", callerToken, 0o640, "", ErrInsecureFile},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			writeFile(t, path, tt.content, tt.mode)
			got, err := FileToken(path).Token(testCtx(t))
			if got != tt.want || !errors.Is(err, tt.cause) || (tt.cause == nil) != (err == nil) {
				t.Fatalf("Token() = %q, %v; want %q, %v", got, err, tt.want, tt.cause)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), callerToken) {
				t.Errorf("error %q: want the path, not the content", err)
			}
			if errors.Is(err, ErrInsecureFile) && !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error %q does not say chmod 600", err)
			}
		})
	}
	if _, err := FileToken(filepath.Join(dir, "absent")).Token(testCtx(t)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	writeFile(t, big, strings.Repeat("a", MaxSecretFileBytes+1), 0o600)
	if _, err := FileToken(big).Token(testCtx(t)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestFileTokenRereadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	src := FileToken(path)
	writeFile(t, path, "first", 0o600)
	if got, _ := src.Token(testCtx(t)); got != "first" {
		t.Fatalf("got %q", got)
	}
	writeFile(t, path, "rotated", 0o600)
	if got, _ := src.Token(testCtx(t)); got != "rotated" {
		t.Errorf("after rotation got %q", got)
	}
}

// tokenEndpoint is a loopback OAuth2 token endpoint recording each request.
type tokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	forms    []url.Values
	headers  []http.Header
	status   int
	body     string
	hang     bool
	redirect string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{status: 200, body: `{"access_token":"idp-access-token","token_type":"Bearer","expires_in":3600}`}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		te.mu.Lock()
		te.forms = append(te.forms, form)
		h := r.Header.Clone()
		h.Set("X-Method", r.Method)
		te.headers = append(te.headers, h)
		status, body, hang, redirect := te.status, te.body, te.hang, te.redirect
		te.mu.Unlock()
		if hang {
			<-r.Context().Done()
			return
		}
		if redirect != "" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(te.Close)
	return te
}

const clientSecret = "client-secret-7c1d"

func TestClientCredentialsSendsTheFormFields(t *testing.T) {
	for _, tt := range []struct {
		name, scope string
		want        url.Values
	}{
		{"without scope", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"relay-gw"}, "client_secret": {clientSecret}}},
		{"with scope", "api://connector/.default extra", url.Values{"grant_type": {"client_credentials"}, "client_id": {"relay-gw"}, "client_secret": {clientSecret}, "scope": {"api://connector/.default extra"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := newTokenEndpoint(t)
			got, err := ClientCredentials(te.URL+"/oauth2/token", "relay-gw", clientSecret, tt.scope).Token(testCtx(t))
			if err != nil || got != "idp-access-token" {
				t.Fatalf("Token() = %q, %v", got, err)
			}
			if len(te.forms) != 1 || !reflect.DeepEqual(te.forms[0], tt.want) {
				t.Errorf("form %v\nwant %v", te.forms, tt.want)
			}
			h := te.headers[0]
			if h.Get("X-Method") != http.MethodPost || h.Get("Content-Type") != "application/x-www-form-urlencoded" || h.Get("Authorization") != "" {
				t.Errorf("method %s, content type %q, authorization %q: want a form POST with the credentials in the body only",
					h.Get("X-Method"), h.Get("Content-Type"), h.Get("Authorization"))
			}
		})
	}
}

func TestClientCredentialsFailures(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(te *tokenEndpoint)
		check func(t *testing.T, err error)
	}{
		{"refused", func(te *tokenEndpoint) {
			te.status, te.body = 401, `{"error":"invalid_client","error_description":"unknown client `+strings.Repeat("z", 500)+`"}`
		}, func(t *testing.T, err error) {
			var ie *IdPError
			if !errors.As(err, &ie) || ie.Status != 401 || ie.Code != "invalid_client" || len(ie.Detail) > MaxDetailBytes+len("…") {
				t.Errorf("err = %#v", err)
			}
			if !strings.Contains(err.Error(), "401 Unauthorized: invalid_client") {
				t.Errorf("message %q", err)
			}
		}},
		{"no access_token", func(te *tokenEndpoint) { te.body = `{"token_type":"Bearer"}` }, func(t *testing.T, err error) {
			var ie *IdPError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), "access_token") {
				t.Errorf("err = %v", err)
			}
		}},
		{"not JSON", func(te *tokenEndpoint) { te.body = `<html>` }, func(t *testing.T, err error) {
			var ie *IdPError
			if !errors.As(err, &ie) || strings.Contains(err.Error(), "html") {
				t.Errorf("err = %v", err)
			}
		}},
		{"hang", func(te *tokenEndpoint) { te.hang = true }, func(t *testing.T, err error) {
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "no answer within") {
				t.Errorf("err = %v", err)
			}
		}},
		{"redirect not followed", func(te *tokenEndpoint) { te.redirect = "/elsewhere" }, func(t *testing.T, err error) {
			var ie *IdPError
			if !errors.As(err, &ie) || ie.Status != http.StatusFound {
				t.Errorf("err = %v", err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := newTokenEndpoint(t)
			tt.setup(te)
			src := ClientCredentials(te.URL+"/token", "relay-gw", clientSecret, "")
			src.Timeout = hangTimeout
			start := time.Now()
			_, err := src.Token(testCtx(t))
			if took := time.Since(start); took > testTimeout/2 {
				t.Errorf("Token took %s with a %s timeout", took, hangTimeout)
			}
			if err == nil {
				t.Fatal("Token succeeded")
			}
			if strings.Contains(err.Error(), clientSecret) {
				t.Errorf("error carries the client secret: %v", err)
			}
			tt.check(t, err)
			if tt.name == "redirect not followed" && len(te.forms) != 1 {
				t.Errorf("%d requests reached the endpoint; the redirect was followed", len(te.forms))
			}
		})
	}
	if _, err := ClientCredentials("not a url", "id", clientSecret, "").Token(testCtx(t)); err == nil {
		t.Error("a relative token URL was accepted")
	}
}

func TestEnrollWithClientCredentials(t *testing.T) {
	te := newTokenEndpoint(t)
	f := newFakeConnector(t, reply{body: `{"secret":"` + testSecret + `","gatewayId":"gw-1"}`})
	c, err := NewClient(f.URL, ClientCredentials(te.URL, "relay-gw", clientSecret, "s"), "relay-host/test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "gw-1"}); err != nil {
		t.Fatal(err)
	}
	if got := f.seen()[0].header.Get("Authorization"); got != "Bearer idp-access-token" {
		t.Errorf("enroll Authorization %q, want the IdP's access token", got)
	}
}

func TestClientCredentialsCallerDeadlineIsNotOurTimeout(t *testing.T) {
	te := newTokenEndpoint(t)
	src := ClientCredentials(te.URL, "relay-gw", clientSecret, "")
	ctx, cancel := context.WithDeadline(testCtx(t), time.Now().Add(-time.Second))
	defer cancel()
	_, err := src.Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want the caller's deadline, not ErrTimeout", err)
	}
}
