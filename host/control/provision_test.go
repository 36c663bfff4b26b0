package control

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestProvisionBodyOmitsUnsetKeys(t *testing.T) {
	for _, tt := range []struct {
		name     string
		req      ProvisionRequest
		wantBody string
	}{
		{"no instance, no wake URL",
			ProvisionRequest{GatewayID: "gw-1", Platform: "discord", BotID: "123"},
			`{"gatewayId":"gw-1","platform":"discord","botId":"123","gatewayEndpoint":"","routeKeys":[]}`},
		{"empty bot id is sent empty",
			ProvisionRequest{GatewayID: "gw-1", Platform: "twilio"},
			`{"gatewayId":"gw-1","platform":"twilio","botId":"","gatewayEndpoint":"","routeKeys":[]}`},
		{"instance and wake URL",
			ProvisionRequest{GatewayID: "gw-1", Platform: "discord", BotID: "123", InstanceID: "inst-9", WakeURL: "https://gw.example/wake?a=1&b=2"},
			`{"gatewayId":"gw-1","platform":"discord","botId":"123","gatewayEndpoint":"","routeKeys":[],"instanceId":"inst-9","wakeUrl":"https://gw.example/wake?a=1&b=2"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeConnector(t, reply{body: `{"secret":"` + testSecret + `","deliveryKey":"dk","tenant":"ten","gatewayId":"gw-1","routeKeys":["r1"]}`})
			c, _ := newTestClient(t, f)
			res, err := Provision(testCtx(t), c, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			r := f.seen()[0]
			if r.path != "/relay/provision" || string(r.body) != tt.wantBody {
				t.Errorf("POST %s %s\nwant /relay/provision %s", r.path, r.body, tt.wantBody)
			}
			if r.header.Get("Authorization") != "Bearer "+callerToken || r.header.Get("Content-Type") != "application/json" || r.header.Get("Accept") != "application/json" {
				t.Errorf("headers %v", r.header)
			}
			want := ProvisionResult{SecretIssued: true, RouteKeys: []string{"r1"},
				Credentials: Credentials{Connector: f.URL + "/", GatewayID: "gw-1", Secret: testSecret, DeliveryKey: "dk", Tenant: "ten", WakeURL: tt.req.WakeURL}}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("result %+v\nwant %+v", res, want)
			}
		})
	}
}

func TestProvisionAnswers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		body    string
		issued  bool
		problem string // a ResponseError's problem; "" for success
	}{
		{"secret issued", `{"secret":"s","deliveryKey":"d","tenant":"t","gatewayId":"g","routeKeys":[]}`, true, ""},
		{"secret withheld is normal", `{"secretIssued":false,"tenant":"t","gatewayId":"g","routeKeys":[]}`, false, ""},
		{"withheld, with a stray delivery key dropped", `{"secretIssued":false,"deliveryKey":"d"}`, false, ""},
		{"neither secret nor secretIssued", `{"tenant":"t","gatewayId":"g"}`, false, "neither secret nor secretIssued"},
		{"secretIssued true without a secret", `{"secretIssued":true}`, false, "secretIssued is true but there is no secret"},
		{"secretIssued not a boolean", `{"secretIssued":"no"}`, false, `field "secretIssued" is not a boolean`},
		{"not JSON", `ok`, false, "not JSON"},
		{"informative fields of odd types are left empty", `{"secret":"s","tenant":7,"routeKeys":"r","gatewayId":null}`, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeConnector(t, reply{body: tt.body})
			c, _ := newTestClient(t, f)
			res, err := Provision(testCtx(t), c, ProvisionRequest{GatewayID: "g", Platform: "discord"})
			if tt.problem != "" {
				var re *ResponseError
				if !errors.As(err, &re) || re.Problem != tt.problem {
					t.Fatalf("err = %v, want problem %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.SecretIssued != tt.issued || (res.Credentials.Secret != "") != tt.issued || (!tt.issued && res.Credentials.DeliveryKey != "") {
				t.Errorf("result %+v, want issued=%v", res, tt.issued)
			}
		})
	}
}

func TestProvisionFailuresAndHang(t *testing.T) {
	f := newFakeConnector(t, reply{status: 401, body: `{"error":"who are you"}`})
	c, _ := newTestClient(t, f)
	_, err := Provision(testCtx(t), c, ProvisionRequest{GatewayID: "g", Platform: "discord"})
	if !errors.Is(err, ErrCallerRejected) {
		t.Errorf("401: err = %v", err)
	}
	f = newFakeConnector(t, reply{status: 403, body: `{"error":"tenant mismatch"}`})
	c, _ = newTestClient(t, f)
	_, err = Provision(testCtx(t), c, ProvisionRequest{GatewayID: "g", Platform: "discord"})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 403 || errors.Is(err, ErrEnrollmentTokenRefused) || !strings.Contains(err.Error(), "tenant mismatch") {
		t.Errorf("403: err = %v", err)
	}
	f = newFakeConnector(t, reply{status: 500, body: `{"error":"boom"}`})
	c, _ = newTestClient(t, f)
	_, err = Provision(testCtx(t), c, ProvisionRequest{GatewayID: "g", Platform: "discord"})
	if !errors.As(err, &se) || se.Status != 500 || !strings.Contains(err.Error(), "boom") {
		t.Errorf("500: err = %v", err)
	}
	f = newFakeConnector(t, reply{hang: true})
	c, _ = newTestClient(t, f)
	c.Timeout = hangTimeout
	_, err = Provision(testCtx(t), c, ProvisionRequest{GatewayID: "g", Platform: "discord"})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("hang: err = %v", err)
	}
	if _, err := Provision(testCtx(t), c, ProvisionRequest{Platform: "discord"}); !errors.Is(err, ErrEmptyField) {
		t.Errorf("no gateway id: err = %v", err)
	}
}

func TestProvisionAllFirstSecretWinsAndFailuresAreCollected(t *testing.T) {
	f := newFakeConnector(t,
		reply{platform: "telegram", status: 502, body: `{"error":"upstream"}`},
		reply{platform: "discord", body: `{"secret":"first-secret","deliveryKey":"dk1","tenant":"ten","gatewayId":"gw-1","routeKeys":[]}`},
		reply{platform: "twilio", body: `{"secretIssued":false,"tenant":"ten","gatewayId":"gw-1"}`},
		reply{platform: "slack", body: `{"secret":"second-secret","deliveryKey":"dk2","tenant":"ten","gatewayId":"gw-1"}`},
		reply{platform: "matrix", body: `{"tenant":"ten"}`},
	)
	c, tok := newTestClient(t, f)
	ids := []Identity{{"telegram", "t1"}, {"discord", "d1"}, {"twilio", "+1555"}, {"slack", "s1"}, {"matrix", "m1"}}
	creds, failures := ProvisionAll(testCtx(t), c, ProvisionRequest{GatewayID: "gw-1", InstanceID: "i-1", Platform: "ignored", BotID: "ignored"}, ids)
	if creds.Secret != "first-secret" || creds.DeliveryKey != "dk1" || creds.GatewayID != "gw-1" || creds.Tenant != "ten" {
		t.Errorf("credentials %v, want discord's", creds)
	}
	var failed []string
	for _, fl := range failures {
		failed = append(failed, fl.Platform)
		if !strings.Contains(fl.Error(), fl.Platform) {
			t.Errorf("failure %q does not name its platform", fl.Error())
		}
	}
	if !reflect.DeepEqual(failed, []string{"telegram", "matrix"}) {
		t.Errorf("failures %v, want telegram and matrix", failures)
	}
	var se *StatusError
	if !errors.As(failures[0], &se) || se.Status != 502 {
		t.Errorf("telegram failure %v", failures[0])
	}
	reqs := f.seen()
	if len(reqs) != len(ids) {
		t.Fatalf("%d requests, want one per identity (%d)", len(reqs), len(ids))
	}
	for i, r := range reqs {
		want := `{"gatewayId":"gw-1","platform":"` + ids[i].Platform + `","botId":"` + ids[i].BotID + `","gatewayEndpoint":"","routeKeys":[],"instanceId":"i-1"}`
		if string(r.body) != want {
			t.Errorf("request %d: %s\nwant %s", i, r.body, want)
		}
	}
	if tok.calls != 1 {
		t.Errorf("the caller token was fetched %d times, want once", tok.calls)
	}
}

func TestProvisionAllWithoutAnySecret(t *testing.T) {
	f := newFakeConnector(t, reply{body: `{"secretIssued":false}`})
	c, _ := newTestClient(t, f)
	creds, failures := ProvisionAll(testCtx(t), c, ProvisionRequest{GatewayID: "gw-1"}, []Identity{{"discord", "1"}, {"twilio", "2"}})
	if creds.Secret != "" || len(failures) != 0 {
		t.Errorf("creds %v failures %v; want no secret and no failure", creds, failures)
	}
}

func TestProvisionAllIdentityFailureFailsEveryPlatformWithoutSending(t *testing.T) {
	f := newFakeConnector(t, reply{body: `{"secret":"x"}`})
	c, tok := newTestClient(t, f)
	tok.err = errors.New("no identity today")
	creds, failures := ProvisionAll(testCtx(t), c, ProvisionRequest{GatewayID: "gw-1"}, []Identity{{"discord", "1"}, {"twilio", "2"}})
	if creds.Secret != "" || len(failures) != 2 || len(f.seen()) != 0 {
		t.Fatalf("creds %v failures %v, %d requests", creds, failures, len(f.seen()))
	}
	for _, fl := range failures {
		if !strings.Contains(fl.Error(), "no identity today") {
			t.Errorf("failure %v", fl)
		}
	}
}
