package edge

import (
	"testing"
)

func TestStripToken(t *testing.T) {
	cases := []struct {
		name, in, want, token string
		found                 bool
	}{
		{"no token leaves the bytes alone", `{"type":2, "id": 12345678901234567890}`, `{"type":2, "id": 12345678901234567890}`, "", false},
		{"first member", `{"token":"T","type":2,"id":"1"}`, `{"type":2,"id":"1"}`, "T", true},
		{"middle member keeps spacing", "{\n  \"type\": 2,\n  \"token\": \"T\",\n  \"id\": \"1\"\n}", "{\n  \"type\": 2,\n  \"id\": \"1\"\n}", "T", true},
		{"last member", `{"type":2, "token":"T"}`, `{"type":2}`, "T", true},
		{"only member", `{ "token" : "T" }`, `{  }`, "T", true},
		{"first of several with spaces", `{ "token" : "T" , "a" : 1.50 }`, `{ "a" : 1.50 }`, "T", true},
		{"repeated: all go, the last is the token", `{"token":"A","type":3,"token":"B"}`, `{"type":3}`, "B", true},
		{"escaped key is still the token", `{"tok\u0065n":"T","type":2}`, `{"type":2}`, "T", true},
		{"nested token is not the interaction token", `{"type":2,"data":{"token":"keep"}}`, `{"type":2,"data":{"token":"keep"}}`, "", false},
		{"non-string token is removed but not kept", `{"type":2,"token":{"x":1}}`, `{"type":2}`, "", true},
		{"escapes and unicode elsewhere stay as written", `{"type":2,"token":"T","data":{"name":"caf\u00e9 <b>&"}}`, `{"type":2,"data":{"name":"caf\u00e9 <b>&"}}`, "T", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, token, found, err := stripToken([]byte(c.in))
			if err != nil {
				t.Fatalf("stripToken: %v", err)
			}
			if string(out) != c.want || token != c.token || found != c.found {
				t.Errorf("stripToken(%s)\n got %s token %q found %v\nwant %s token %q found %v", c.in, out, token, found, c.want, c.token, c.found)
			}
		})
	}
}

func TestParseInteraction(t *testing.T) {
	cases := []struct {
		name, body string
		typ        int
		id         string
		bad        bool
	}{
		{"string id", `{"type":2,"id":"42"}`, 2, "42", false},
		{"snowflake as a number", `{"type":3,"id":786008729715212338}`, 3, "786008729715212338", false},
		{"no id", `{"type":1}`, 1, "", false},
		{"not JSON", `type=2`, 0, "", true},
		{"array", `[{"type":2}]`, 0, "", true},
		{"trailing garbage", `{"type":2} x`, 0, "", true},
		{"no type", `{"id":"1"}`, 0, "", true},
		{"string type", `{"type":"2"}`, 0, "", true},
		{"fractional type", `{"type":2.5}`, 0, "", true},
		{"invalid UTF-8", "{\"type\":2,\"x\":\"\xff\"}", 0, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := parseInteraction([]byte(c.body))
			if c.bad {
				if err == nil {
					t.Fatalf("parseInteraction(%q) = %+v, want an error", c.body, in)
				}
				return
			}
			if err != nil || in.typ != c.typ || in.id != c.id {
				t.Fatalf("parseInteraction(%q) = %+v, %v; want type %d id %q", c.body, in, err, c.typ, c.id)
			}
		})
	}
}
