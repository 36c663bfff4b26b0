package jetstream

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MaxURLs caps how many servers --nats-url may list. A cluster has 3 or 5
// nodes and the client learns the rest from the first it reaches; 32 is far
// past any sane list and stops a runaway value early.
const MaxURLs = 32

// URLError is a --nats-url entry that is not a NATS server URL. Entry is
// redacted (no credentials).
type URLError struct {
	Entry  string
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("nats url %q: %s", e.Entry, e.Reason)
}

// ParseURLList splits a comma-separated list of NATS server URLs (the value
// of --nats-url) into its entries. Blank entries are skipped; each entry is
// nats://, tls://, ws:// or wss:// with a host, or a bare host:port, which
// becomes nats://host:port. An empty list or a malformed entry is a
// *URLError.
func ParseURLList(list string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if len(out) == MaxURLs {
			return nil, &URLError{Entry: RedactURL(raw), Reason: fmt.Sprintf("more than %d servers", MaxURLs)}
		}
		u, err := parseServerURL(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, &URLError{Entry: list, Reason: "no server URL"}
	}
	return out, nil
}

func parseServerURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		if _, _, err := net.SplitHostPort(raw); err != nil {
			return "", &URLError{Entry: RedactURL(raw), Reason: "want nats://host:port or host:port"}
		}
		raw = "nats://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", &URLError{Entry: RedactURL(raw), Reason: "not a URL"}
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return "", &URLError{Entry: RedactURL(raw), Reason: "scheme must be nats, tls, ws or wss"}
	}
	if u.Hostname() == "" {
		return "", &URLError{Entry: RedactURL(raw), Reason: "no host"}
	}
	return raw, nil
}

// RedactURL returns raw with everything up to its last '@' (a token, a
// user and password) replaced by "redacted", keeping the scheme, so a URL
// can be logged and put in an error. A string without '@' is returned as is.
func RedactURL(raw string) string {
	at := strings.LastIndexByte(raw, '@')
	if at < 0 {
		return raw
	}
	prefix := ""
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && strings.HasPrefix(raw, u.Scheme+"://") {
		prefix = u.Scheme + "://"
	}
	return prefix + "redacted@" + raw[at+1:]
}

func redactAll(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = RedactURL(u)
	}
	return strings.Join(out, ",")
}
