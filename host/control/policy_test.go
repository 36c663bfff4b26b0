package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPostPolicySendsTheUpgradeBearerAndTheBody(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    Policy
		want string
	}{
		{"all set", Policy{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{"chan-1", "chan-2"}, AllowOtherBots: true},
			`{"platform":"discord","requireAddress":true,"freeResponseScopes":["chan-1","chan-2"],"allowOtherBots":true}`},
		{"defaults send an empty scope list, not null", Policy{Platform: "twilio"},
			`{"platform":"twilio","requireAddress":false,"freeResponseScopes":[],"allowOtherBots":false}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeConnector(t, reply{status: 200, body: `{"ok":true}`})
			c, tok := newTestClient(t, f)
			if err := PostPolicy(testCtx(t), c, "upgrade-token-abc", tt.p); err != nil {
				t.Fatal(err)
			}
			r := f.seen()[0]
			if r.path != "/relay/policy" || string(r.body) != tt.want {
				t.Errorf("POST %s %s\nwant /relay/policy %s", r.path, r.body, tt.want)
			}
			if r.header.Get("Authorization") != "Bearer upgrade-token-abc" || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.header)
			}
			if tok.calls != 0 {
				t.Errorf("the caller identity was fetched for a policy")
			}
		})
	}
}

func TestPostPolicyFailures(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply reply
		check func(error) bool
	}{
		{"only 200 is accepted", reply{status: 204}, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Status == 204
		}},
		{"401", reply{status: 401, body: `{"error":"stale token"}`}, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Status == 401 && !errors.Is(err, ErrCallerRejected) && strings.Contains(err.Error(), "stale token")
		}},
		{"500", reply{status: 500}, func(err error) bool { return strings.Contains(fmtErr(err), "500") }},
		{"hang", reply{hang: true}, func(err error) bool { return errors.Is(err, ErrTimeout) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeConnector(t, tt.reply)
			c, err := NewClient(f.URL, nil, "relay-host/test")
			if err != nil {
				t.Fatal(err)
			}
			c.Timeout = hangTimeout
			err = PostPolicy(testCtx(t), c, "upgrade-token-abc", Policy{Platform: "discord"})
			if !tt.check(err) {
				t.Errorf("err = %v", err)
			}
			if strings.Contains(fmtErr(err), "upgrade-token-abc") {
				t.Errorf("error carries the bearer: %v", err)
			}
		})
	}
}

func TestParsePolicies(t *testing.T) {
	good := `[
	  {"platform":"discord","requireAddress":true,"freeResponseScopes":["c1"],"allowOtherBots":false},
	  {"platform":"twilio"}
	]`
	ps, err := ParsePolicies([]byte(good))
	want := []Policy{
		{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{"c1"}},
		{Platform: "twilio", FreeResponseScopes: []string{}},
	}
	if err != nil || !reflect.DeepEqual(ps, want) {
		t.Fatalf("ParsePolicies = %+v, %v\nwant %+v", ps, err, want)
	}
	if ps, err := ParsePolicies([]byte(`[]`)); err != nil || len(ps) != 0 {
		t.Errorf("empty list: %v, %v", ps, err)
	}
	for _, tt := range []struct {
		name, in  string
		index     int
		key, want string
	}{
		{"not JSON", `[{`, -1, "", "not valid JSON"},
		{"not an array", `{"platform":"discord"}`, -1, "", "not a JSON array"},
		{"null", `null`, -1, "", "not a JSON array"},
		{"entry not an object", `[{"platform":"discord"}, 3]`, 1, "", "not a JSON object"},
		{"unknown key", `[{"platform":"discord","requireMention":true}]`, 0, "requireMention", "unknown key"},
		{"wrong type bool", `[{"platform":"discord","requireAddress":"yes"}]`, 0, "requireAddress", "want true or false"},
		{"wrong type scopes", `[{"platform":"discord","freeResponseScopes":"c1"}]`, 0, "freeResponseScopes", "array of strings"},
		{"scope not a string", `[{"platform":"discord","freeResponseScopes":[1]}]`, 0, "freeResponseScopes", "array of strings"},
		{"empty scope", `[{"platform":"discord","freeResponseScopes":[""]}]`, 0, "freeResponseScopes", "empty"},
		{"null value", `[{"platform":"discord","allowOtherBots":null}]`, 0, "allowOtherBots", "null"},
		{"platform not a string", `[{"platform":7}]`, 0, "platform", "want a string"},
		{"bad platform name", `[{"platform":"Discord"}]`, 0, "platform", "platform name"},
		{"no platform", `[{"platform":"discord"},{"requireAddress":true}]`, 1, "platform", "missing"},
		{"duplicate platform", `[{"platform":"discord"},{"platform":"twilio"},{"platform":"discord"}]`, 2, "platform", "already has a policy (entry 0)"},
		{"duplicate key", `[{"platform":"discord","platform":"twilio"}]`, 0, "", `key "platform" given twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicies([]byte(tt.in))
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Index != tt.index || pe.Key != tt.key || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %#v (%v)\nwant index %d key %q mentioning %q", err, err, tt.index, tt.key, tt.want)
			}
			if tt.index >= 0 && !strings.Contains(err.Error(), "policy "+string(rune('0'+tt.index))) {
				t.Errorf("message %q does not name the entry", err)
			}
		})
	}
}

func TestLoadPolicies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(path, []byte(`[{"platform":"discord","requireAddress":true}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err := LoadPolicies(path)
	if err != nil || len(ps) != 1 || !ps[0].RequireAddress {
		t.Fatalf("LoadPolicies = %v, %v", ps, err)
	}
	if err := os.WriteFile(path, []byte(`[{"platform":"discord","x":1}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadPolicies(path)
	var pe *PolicyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `policy 0: "x"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadPolicies(filepath.Join(dir, "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParsePolicies(f *testing.F) {
	f.Add([]byte(`[{"platform":"discord","requireAddress":true,"freeResponseScopes":["a"],"allowOtherBots":false}]`))
	f.Add([]byte(`[{"platform":"discord"},{"platform":"discord"}]`))
	f.Add([]byte(`[{"platform":"a","platform":"b"}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParsePolicies(data)
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a PolicyError", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range ps {
			if !policyPlatform.MatchString(p.Platform) || seen[p.Platform] || p.FreeResponseScopes == nil {
				t.Fatalf("accepted %+v", p)
			}
			seen[p.Platform] = true
		}
	})
}

func TestPostPoliciesGoesOnAfterAFailure(t *testing.T) {
	f := newFakeConnector(t,
		reply{platform: "discord", status: 500, body: `{"error":"later"}`},
		reply{platform: "twilio", status: 200},
	)
	c, err := NewClient(f.URL, nil, "relay-host/test")
	if err != nil {
		t.Fatal(err)
	}
	minted := 0
	mint := func() string { minted++; return fmt.Sprintf("upgrade-%d", minted) }
	failures := PostPolicies(testCtx(t), c, mint, []Policy{{Platform: "discord"}, {Platform: "twilio"}})
	if len(failures) != 1 || failures[0].Platform != "discord" || !strings.Contains(failures[0].Error(), "later") {
		t.Errorf("failures %v, want discord's only", failures)
	}
	reqs := f.seen()
	if len(reqs) != 2 || reqs[0].header.Get("Authorization") != "Bearer upgrade-1" || reqs[1].header.Get("Authorization") != "Bearer upgrade-2" {
		t.Errorf("requests %v: want two, each with a freshly minted bearer", reqs)
	}
}
