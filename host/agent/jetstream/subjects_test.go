package jetstream_test

import (
	"strings"
	"testing"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/agent/jetstream/echoworker"
)

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		name, gw, platform, event, actions, reply string
	}{
		{"plain words pass", "gw-1", "discord", "relay.v1.events.gw-1.discord", "relay.v1.actions.gw-1", "relay.v1.reply.gw-1"},
		{"dots become underscores", "gw.example.com", "discord", "relay.v1.events.gw_example_com.discord", "relay.v1.actions.gw_example_com", "relay.v1.reply.gw_example_com"},
		{"wildcards become underscores", "gw*>", "a.b", "relay.v1.events.gw__.a_b", "relay.v1.actions.gw__", "relay.v1.reply.gw__"},
		{"spaces and non-ASCII, one per character", "gw é x", "tele\tgram", "relay.v1.events.gw___x.tele_gram", "relay.v1.actions.gw___x", "relay.v1.reply.gw___x"},
		{"empty becomes one underscore", "", "", "relay.v1.events._._", "relay.v1.actions._", "relay.v1.reply._"},
		{"underscore and dash kept", "A_b-9", "x_Y-0", "relay.v1.events.A_b-9.x_Y-0", "relay.v1.actions.A_b-9", "relay.v1.reply.A_b-9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := js.EventSubject(tc.gw, tc.platform); got != tc.event {
				t.Errorf("EventSubject(%q, %q) = %q, want %q", tc.gw, tc.platform, got, tc.event)
			}
			if got := js.ActionsSubject(tc.gw); got != tc.actions {
				t.Errorf("ActionsSubject(%q) = %q, want %q", tc.gw, got, tc.actions)
			}
			if got := js.ReplySubject(tc.gw); got != tc.reply {
				t.Errorf("ReplySubject(%q) = %q, want %q", tc.gw, got, tc.reply)
			}
			// The echo worker carries its own copy of the rule (it is
			// written against the public contract only): they must agree.
			if got := echoworker.ReplySubject(tc.gw); got != tc.reply {
				t.Errorf("echoworker.ReplySubject(%q) = %q, want %q", tc.gw, got, tc.reply)
			}
			wantFilter := strings.TrimSuffix(js.GatewayEventsFilter(tc.gw), "*") + ">"
			if got := echoworker.EventsFilter(tc.gw); got != wantFilter {
				t.Errorf("echoworker.EventsFilter(%q) = %q, want %q", tc.gw, got, wantFilter)
			}
		})
	}
}

func TestSubjectTokenLongInputs(t *testing.T) {
	a := strings.Repeat("a", 200)
	b := strings.Repeat("a", 199) + "b"
	ta, tb := js.SubjectToken(a), js.SubjectToken(b)
	if len(ta) != js.MaxSubjectTokenLen || len(tb) != js.MaxSubjectTokenLen {
		t.Fatalf("lengths %d, %d; want %d", len(ta), len(tb), js.MaxSubjectTokenLen)
	}
	if ta == tb {
		t.Fatalf("two long ids that differ only past the cap map to one token %q", ta)
	}
	exact := strings.Repeat("x", js.MaxSubjectTokenLen)
	if got := js.SubjectToken(exact); got != exact {
		t.Fatalf("a clean token of exactly the cap changed: %q", got)
	}
}

// FuzzSubjectToken: the result is always one valid, non-empty NATS subject
// token of at most MaxSubjectTokenLen bytes, and a fixed point.
func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"", "gw-1", "a.b", "*", ">", "é", "\xff", " ", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := js.SubjectToken(s)
		if tok == "" || len(tok) > js.MaxSubjectTokenLen {
			t.Fatalf("SubjectToken(%q) = %q (len %d)", s, tok, len(tok))
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Fatalf("SubjectToken(%q) = %q holds %q", s, tok, c)
			}
		}
		if again := js.SubjectToken(tok); again != tok {
			t.Fatalf("not idempotent: %q → %q → %q", s, tok, again)
		}
		if len(s) <= js.MaxSubjectTokenLen && len(tok) > len(s) && s != "" {
			t.Fatalf("SubjectToken(%q) = %q grew", s, tok)
		}
	})
}

func TestParseURLList(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		errPart  string
	}{
		{"one url", "nats://a:4222", []string{"nats://a:4222"}, ""},
		{"comma list with blanks and spaces", " nats://a:4222, ,tls://b:4222,", []string{"nats://a:4222", "tls://b:4222"}, ""},
		{"bare host:port gets nats://", "127.0.0.1:4222", []string{"nats://127.0.0.1:4222"}, ""},
		{"websocket", "wss://nats.example.com:443", []string{"wss://nats.example.com:443"}, ""},
		{"empty", " , ", nil, "no server URL"},
		{"wrong scheme", "http://a:4222", nil, "scheme"},
		{"no host", "nats://:4222", nil, "no host"},
		{"bare host without port", "justahost", nil, "want nats://host:port"},
		{"credentials never in the error", "http://user:hunter2@a:4222", nil, "redacted@a:4222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := js.ParseURLList(tc.in)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("ParseURLList(%q) error = %v, want one containing %q", tc.in, err, tc.errPart)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks a password: %v", err)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("ParseURLList(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzParseURLList: entries that come back are usable server URLs, there are
// at most MaxURLs of them, and an error never repeats what stood before an
// '@' (a token or password).
func FuzzParseURLList(f *testing.F) {
	for _, s := range []string{"nats://a:1", "a:1,b:2", "nats://tok@h:1", "tls://u:p@h:1,x", "", ",,", "ws://[::1]:80"} {
		f.Add(s, "s3cr3t")
	}
	f.Fuzz(func(t *testing.T, prefix, rest string) {
		const secret = "SECRETTOKEN"
		if strings.Contains(prefix, secret) || strings.Contains(rest, secret) || strings.ContainsAny(prefix, ",@") {
			return
		}
		list := prefix + secret + "@" + rest
		urls, err := js.ParseURLList(list)
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("ParseURLList(%q) error leaks the secret: %v", list, err)
			}
			return
		}
		if len(urls) == 0 || len(urls) > js.MaxURLs {
			t.Fatalf("ParseURLList(%q) = %d urls", list, len(urls))
		}
		for _, u := range urls {
			if strings.Contains(js.RedactURL(u), secret) {
				t.Fatalf("RedactURL(%q) keeps the secret", u)
			}
		}
	})
}
