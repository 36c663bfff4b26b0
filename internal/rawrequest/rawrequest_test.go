package rawrequest

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

func TestParse(t *testing.T) {
	raw := "POST /webhooks/github?x=1 HTTP/1.1\r\n" +
		"Host: relay.example\r\n" +
		"X-GitHub-Event: issue_comment\r\n" +
		"Content-Type: application/json\r\n" +
		"Authorization: Bearer secret\r\n" +
		"Content-Length: 11\r\n\r\n" +
		`{"a":"b"}` + "\r\n"
	f, err := Parse("github", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if f.Platform != "github" || f.Method != "POST" || f.Path != "/webhooks/github?x=1" || string(f.Body) != "{\"a\":\"b\"}\r\n" {
		t.Errorf("forward %+v body %q", f, f.Body)
	}
	if v, _ := f.Header("x-github-event"); v != "issue_comment" {
		t.Errorf("event header %q", v)
	}
	if _, ok := f.Header("authorization"); ok {
		t.Error("credential header forwarded")
	}
	if f.Headers[0].Name != "host" || f.Headers[0].Value != "relay.example" {
		t.Errorf("headers %v, want host first", f.Headers)
	}
	// LF line endings and no Content-Length: the rest is the body.
	f, err = Parse("github", []byte("POST /x HTTP/1.1\nHost: h\n\nbody text"))
	if err != nil || string(f.Body) != "body text" {
		t.Errorf("LF request: %+v %v", f, err)
	}
	if _, err := Parse("x", []byte("not a request")); err == nil {
		t.Error("garbage parsed")
	}
	big := "POST / HTTP/1.1\r\nHost: h\r\n\r\n" + strings.Repeat("x", pluginapi.MaxBodyBytes+1)
	if _, err := Parse("x", []byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large body: %v", err)
	}
}

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader("X-GitHub-Event:  ping ")
	if err != nil || h.Name != "x-github-event" || h.Value != "ping" {
		t.Errorf("%+v %v", h, err)
	}
	for _, bad := range []string{"novalue", ": v", "A B: c", "a: b\r\nc: d"} {
		if _, err := ParseHeader(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"))
	f.Add([]byte("GET / HTTP/1.0\n\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fw, err := Parse("p", raw)
		if err != nil {
			return
		}
		if len(fw.Body) > pluginapi.MaxBodyBytes {
			t.Fatalf("body of %d bytes accepted", len(fw.Body))
		}
		for _, h := range fw.Headers {
			if h.Name != strings.ToLower(h.Name) || h.Name == "authorization" || h.Name == "cookie" {
				t.Fatalf("header %q forwarded", h.Name)
			}
		}
		_ = utf8.ValidString(fw.Path)
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add("X-A: b")
	f.Add(":")
	f.Fuzz(func(t *testing.T, line string) {
		h, err := ParseHeader(line)
		if err == nil && (h.Name == "" || strings.ContainsAny(h.Name+h.Value, "\r\n")) {
			t.Fatalf("%q parsed to %+v", line, h)
		}
	})
}
