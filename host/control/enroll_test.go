package control

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBaseURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://connector.example", "https://connector.example"},
		{"https://connector.example/", "https://connector.example"},
		{"  https://connector.example//  ", "https://connector.example"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"wss://connector.example/relay", "https://connector.example"},
		{"ws://127.0.0.1:8080/relay/", "http://127.0.0.1:8080"},
		{"https://connector.example/relay", "https://connector.example"},
		{"https://host/base", "https://host/base"},
		{"wss://host/base/relay", "https://host/base"},
		{"https://host/relay/relay", "https://host/relay"}, // one /relay only
		{"https://host/relayx", "https://host/relayx"},
		{"ws://relay", "http://relay"},         // a host named relay stays
		{"wss://relay/relay", "https://relay"}, // only the path loses /relay
		{"http://0//relay", "http://0"},
	} {
		got, err := BaseURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "connector.example", "ftp://h", "HTTPS://h", "https://", "https://h/?a=b", "https://h/#x", "https://user:pw@h/", "ws://0/ /", "https://h\tx"} {
		_, err := BaseURL(bad)
		var ue *URLError
		if !errors.As(err, &ue) {
			t.Errorf("BaseURL(%q) = %v, want a URLError", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("BaseURL error echoes the user info: %v", err)
		}
	}
}

func TestEnrollSendsExactlyTheContract(t *testing.T) {
	f := newFakeConnector(t, reply{body: `{"secret":"` + testSecret + `","deliveryKey":"dk-1","tenant":"tenant-a","gatewayId":"gw-from-connector"}`})
	c, tok := newTestClient(t, f)
	creds, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "enroll-tok-<1>&", GatewayID: "gw-a"})
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{Connector: f.URL + "/", GatewayID: "gw-from-connector", Secret: testSecret, DeliveryKey: "dk-1", Tenant: "tenant-a"}
	if creds != want {
		t.Errorf("credentials = %#v\nwant %#v", creds, want)
	}
	reqs := f.seen()
	if len(reqs) != 1 || tok.calls != 1 {
		t.Fatalf("%d requests, %d token calls; want 1 each", len(reqs), tok.calls)
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/relay/enroll" {
		t.Errorf("request %s %s, want POST /relay/enroll", r.method, r.path)
	}
	if got, want := string(r.body), `{"enrollmentToken":"enroll-tok-<1>&","gatewayId":"gw-a"}`; got != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
	for k, v := range map[string]string{
		"Authorization": "Bearer " + callerToken,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
		"User-Agent":    "relay-host/test",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestEnrollKeepsTheRequestedIDWhenTheAnswerHasNone(t *testing.T) {
	f := newFakeConnector(t, reply{body: `{"secret":"` + testSecret + `"}`})
	c, _ := newTestClient(t, f)
	creds, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "gw-asked"})
	if err != nil || creds.GatewayID != "gw-asked" || creds.Secret != testSecret {
		t.Fatalf("Enroll = %v, %v; want gateway gw-asked with the secret", creds, err)
	}
}

func TestEnrollFailures(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, tt := range []struct {
		name  string
		reply reply
		check func(t *testing.T, err error)
	}{
		{"401 is the caller identity", reply{status: 401, body: `{"error":"bad token"}`}, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.Is(err, ErrCallerRejected) || !errors.As(err, &se) || se.Detail != "bad token" {
				t.Errorf("err = %#v", err)
			}
			if err.Error() != "the connector rejected the caller identity" {
				t.Errorf("message %q", err)
			}
		}},
		{"403 is the enrollment token", reply{status: 403, body: `{"error":"expired"}`}, func(t *testing.T, err error) {
			if !errors.Is(err, ErrEnrollmentTokenRefused) || errors.Is(err, ErrCallerRejected) {
				t.Errorf("err = %v", err)
			}
			if err.Error() != "the enrollment token is invalid, expired, already used, or for another tenant" {
				t.Errorf("message %q", err)
			}
		}},
		{"5xx carries the status and the error field", reply{status: 503, body: `{"error":"store down"}`}, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 503 || !strings.Contains(err.Error(), "503 Service Unavailable") || !strings.Contains(err.Error(), "store down") {
				t.Errorf("err = %v", err)
			}
		}},
		{"an unknown status is named by its number", reply{status: 599, body: `oops`}, func(t *testing.T, err error) {
			if !strings.Contains(fmtErr(err), "HTTP 599") {
				t.Errorf("err = %v", err)
			}
		}},
		{"the error field is clipped and stripped of control characters", reply{status: 500, body: `{"error":"line1\nline2\u001b[31m` + long + `"}`}, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || len(se.Detail) > MaxDetailBytes+len("…") || strings.ContainsAny(se.Detail, "\n\x1b") || !strings.HasPrefix(se.Detail, "line1 line2") {
				t.Errorf("detail %q (%d bytes)", se.Detail, len(se.Detail))
			}
			if len(err.Error()) > 400 {
				t.Errorf("message is %d bytes long", len(err.Error()))
			}
		}},
		{"a non-JSON error body is not echoed", reply{status: 500, body: `<html>` + long}, func(t *testing.T, err error) {
			if strings.Contains(err.Error(), "html") || len(err.Error()) > 200 {
				t.Errorf("err = %v", err)
			}
		}},
		{"a redirect is not followed", reply{status: 302, header: map[string]string{"Location": "https://elsewhere.example/relay/enroll"}}, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 302 || !strings.Contains(err.Error(), "not followed") || !strings.Contains(err.Error(), "elsewhere.example") {
				t.Errorf("err = %v", err)
			}
		}},
		{"a 2xx that is not JSON", reply{body: `secret=` + testSecret}, func(t *testing.T, err error) {
			var re *ResponseError
			if !errors.As(err, &re) || re.Problem != "not JSON" {
				t.Errorf("err = %v", err)
			}
		}},
		{"a 2xx that is a JSON array", reply{body: `["` + testSecret + `"]`}, func(t *testing.T, err error) {
			var re *ResponseError
			if !errors.As(err, &re) || re.Problem != "not a JSON object" {
				t.Errorf("err = %v", err)
			}
		}},
		{"a 2xx without a secret", reply{body: `{"deliveryKey":"dk","tenant":"t","gatewayId":"g"}`}, func(t *testing.T, err error) {
			var re *ResponseError
			if !errors.As(err, &re) || re.Problem != "no secret" {
				t.Errorf("err = %v", err)
			}
		}},
		{"a 2xx with an empty secret", reply{body: `{"secret":""}`}, func(t *testing.T, err error) {
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Errorf("err = %v", err)
			}
		}},
		{"a 2xx whose secret is not a string", reply{body: `{"secret":12345}`}, func(t *testing.T, err error) {
			var re *ResponseError
			if !errors.As(err, &re) || re.Problem != `field "secret" is not a string` {
				t.Errorf("err = %v", err)
			}
		}},
		{"a 2xx larger than the cap", reply{body: `{"secret":"` + strings.Repeat("a", MaxResponseBytes) + `"}`}, func(t *testing.T, err error) {
			var re *ResponseError
			if !errors.As(err, &re) || !strings.Contains(re.Problem, "larger than") {
				t.Errorf("err = %v", err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeConnector(t, tt.reply)
			c, _ := newTestClient(t, f)
			_, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"})
			if err == nil {
				t.Fatal("Enroll succeeded")
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), callerToken) {
				t.Errorf("error text carries a secret: %v", err)
			}
			tt.check(t, err)
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestEnrollHangIsBoundedByTheTimeout(t *testing.T) {
	f := newFakeConnector(t, reply{hang: true})
	c, _ := newTestClient(t, f)
	c.Timeout = hangTimeout
	start := time.Now()
	_, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"})
	var te *TransportError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) || te.Timeout != hangTimeout {
		t.Fatalf("err = %v, want a TransportError timing out after %s", err, hangTimeout)
	}
	if !strings.Contains(err.Error(), "no answer") || !strings.Contains(err.Error(), "/relay/enroll") {
		t.Errorf("message %q", err)
	}
	if took := time.Since(start); took > testTimeout/2 {
		t.Errorf("Enroll took %s with a %s timeout", took, hangTimeout)
	}
}

func TestEnrollUnreachableIsATransportError(t *testing.T) {
	f := newFakeConnector(t)
	c, _ := newTestClient(t, f)
	f.Close()
	_, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"})
	var te *TransportError
	if !errors.As(err, &te) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a TransportError that is not a timeout", err)
	}
}

func TestEnrollCancelledByTheCaller(t *testing.T) {
	f := newFakeConnector(t, reply{hang: true})
	c, _ := newTestClient(t, f)
	ctx, cancel := context.WithCancel(testCtx(t))
	tok := &cancelOnToken{cancel: cancel}
	c.Identity = tok
	_, err := Enroll(ctx, c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// cancelOnToken cancels the exchange's context as soon as the token is
// asked for, so the request goes out on a cancelled context.
type cancelOnToken struct{ cancel context.CancelFunc }

func (c *cancelOnToken) Token(context.Context) (string, error) { c.cancel(); return "x", nil }

func TestEnrollCallerIdentityFailureSendsNothing(t *testing.T) {
	f := newFakeConnector(t, reply{body: `{"secret":"x"}`})
	c, tok := newTestClient(t, f)
	tok.err = errors.New("idp down")
	_, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"})
	if err == nil || !strings.Contains(err.Error(), "idp down") || len(f.seen()) != 0 {
		t.Fatalf("err = %v, %d requests; want the identity error and none sent", err, len(f.seen()))
	}
	c.Identity = nil
	if _, err := Enroll(testCtx(t), c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"}); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("nil identity: err = %v", err)
	}
	for _, req := range []EnrollRequest{{GatewayID: "g"}, {EnrollmentToken: "t"}} {
		if _, err := Enroll(testCtx(t), c, req); !errors.Is(err, ErrEmptyField) {
			t.Errorf("Enroll(%+v) = %v, want ErrEmptyField", req, err)
		}
	}
	if len(f.seen()) != 0 {
		t.Errorf("%d requests sent", len(f.seen()))
	}
}

func TestEnrollCallerDeadlineIsNotOurTimeout(t *testing.T) {
	f := newFakeConnector(t, reply{hang: true})
	c, _ := newTestClient(t, f)
	ctx, cancel := context.WithDeadline(testCtx(t), time.Now().Add(-time.Second))
	defer cancel()
	_, err := Enroll(ctx, c, EnrollRequest{EnrollmentToken: "t", GatewayID: "g"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want the caller's deadline, not ErrTimeout", err)
	}
}
