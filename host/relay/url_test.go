package relay

import "testing"

func TestDialURL(t *testing.T) {
	cases := []struct{ in, want string }{
		// The table of docs/protocol.md, Dial URL.
		{"https://connector.example", "wss://connector.example/relay"},
		{"https://connector.example/", "wss://connector.example/relay"},
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/relay"},
		{"wss://connector.example/relay", "wss://connector.example/relay"},
		{"https://connector.example/relay/", "wss://connector.example/relay"},
		{"https://host/base", "wss://host/base/relay"},
		// The rules around it.
		{"  https://connector.example//  ", "wss://connector.example/relay"},
		{"ws://h:1", "ws://h:1/relay"},
		{"HTTPS://h", "HTTPS://h/relay"}, // case-sensitive: not rewritten
		{"connector.example", "connector.example/relay"},
		{"https://h/?a=b", "wss://h/?a=b/relay"}, // documented hazard
		{"", "/relay"},
	}
	for _, tc := range cases {
		if got := DialURL(tc.in); got != tc.want {
			t.Errorf("DialURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := DialURL(DialURL(tc.in)); got != DialURL(tc.in) {
			t.Errorf("DialURL is not idempotent on %q: %q", tc.in, got)
		}
	}
}
