package control

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseCredentials checks that the credentials parser never panics,
// never quotes the file in its problem, and accepts only objects with a
// gateway id and a secret.
func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(`{"connector":"https://c","gateway_id":"gw-1","secret":"s","delivery_key":"d","tenant":"t"}`))
	f.Add([]byte(`{"gateway_id":"gw-1","secret":"s","wake_url":"https://w"}`))
	f.Add([]byte(`{"gateway_id":"gw-1","secret":12}`))
	f.Add([]byte(`{"gateway_id":"gw-1","secret":"abcdefgh`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, problem := parseCredentials(data)
		if problem != nil {
			if problem.cause == nil || problem.text == "" {
				t.Fatalf("problem without a cause or text: %+v", problem)
			}
			// The problem text is built from fixed words, field names and
			// offsets; it never carries more than a field name of the input.
			if len(problem.text) > 80 {
				t.Fatalf("problem text %q is long enough to be quoting the file", problem.text)
			}
			return
		}
		if strings.TrimSpace(c.GatewayID) == "" || strings.TrimSpace(c.Secret) == "" {
			t.Fatalf("accepted credentials without a gateway id or secret: %v", c)
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			t.Fatalf("accepted bytes that are not a JSON object: %q", data)
		}
	})
}

// FuzzBaseURL checks that BaseURL never panics, that what it accepts is an
// http(s) URL without a trailing slash, and that it is idempotent.
func FuzzBaseURL(f *testing.F) {
	for _, s := range []string{"https://connector.example", "wss://h/relay/", "ws://127.0.0.1:8080/relay", "https://h/base/relay", "http://h/?q", "https://u:p@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		base, err := BaseURL(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
			t.Fatalf("BaseURL(%q) = %q: not http(s)", in, base)
		}
		if strings.HasSuffix(base, "/") {
			t.Fatalf("BaseURL(%q) = %q ends with /", in, base)
		}
		if _, err := url.Parse(base + EnrollPath); err != nil {
			t.Fatalf("BaseURL(%q) = %q does not make a URL: %v", in, base, err)
		}
		if again, err := BaseURL(base); err != nil || (again != base && !strings.HasSuffix(base, relaySuffix)) {
			t.Fatalf("BaseURL(%q) = %q, then %q, %v", in, base, again, err)
		}
	})
}

// FuzzDecodeIssued checks that the enroll/provision answer decoder never
// panics, that every refusal is a ResponseError, and that what it accepts
// was a JSON object whose secret, when set, is that object's string.
func FuzzDecodeIssued(f *testing.F) {
	f.Add([]byte(`{"secret":"s","deliveryKey":"d","tenant":"t","gatewayId":"g","routeKeys":["a"]}`))
	f.Add([]byte(`{"secretIssued":false,"routeKeys":null}`))
	f.Add([]byte(`{"secret":1,"secretIssued":"x"}`))
	f.Add([]byte(`[{"secret":"s"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ans, err := decodeIssued(EnrollPath, answer{status: 200, body: body})
		if err != nil {
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a ResponseError", err)
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			t.Fatalf("accepted a body that is not a JSON object: %q", body)
		}
		if ans.Secret != "" {
			var s string
			if json.Unmarshal(m["secret"], &s) != nil || s != ans.Secret {
				t.Fatalf("secret %q does not come from the body %q", ans.Secret, body)
			}
		}
	})
}
