package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// DefaultTimeout bounds one control-plane exchange (connect, request and
// the whole answer). A connector answers these in well under a second; the
// reference gateway allows 15 s, and 30 s leaves room for a cold-starting
// connector without letting a hung one stall enroll or boot for long.
const DefaultTimeout = 30 * time.Second

// MaxResponseBytes caps how much of an answer is read. The answers are
// small JSON objects (a secret, a key, a tenant, a few route keys); 64 KiB
// is far above any of them and keeps a misbehaving server from making the
// host buffer without bound.
const MaxResponseBytes = 64 << 10

// MaxDetailBytes caps how much of a connector's or identity provider's
// `error` text is carried into an error message, so a verbose or hostile
// server cannot flood the operator's terminal or logs.
const MaxDetailBytes = 200

// DefaultUserAgent is sent when a Client has no UserAgent of its own.
const DefaultUserAgent = "relay-host"

// Endpoint paths, appended to the base URL (docs/protocol.md, Control
// plane).
const (
	EnrollPath    = "/relay/enroll"
	ProvisionPath = "/relay/provision"
	PolicyPath    = "/relay/policy"
)

// relaySuffix is the WebSocket mount point that BaseURL strips once.
const relaySuffix = "/relay"

// Client talks to one connector's control plane.
type Client struct {
	// Connector is the connector URL as the operator gave it; it is
	// recorded in the credentials Enroll and Provision return.
	Connector string
	// Base is the connector's HTTP base (see BaseURL); endpoint paths are
	// appended to it.
	Base string
	// Identity proves the caller's tenant to enroll and provision. It may
	// be nil for a Client used only for PostPolicy.
	Identity TokenSource
	// HTTP sends the requests. NewClient sets one that never follows a
	// redirect; a caller that replaces it should keep that property.
	HTTP *http.Client
	// UserAgent is sent on every request, e.g. "relay-host/1.2.3".
	UserAgent string
	// Timeout bounds each exchange; 0 means DefaultTimeout.
	Timeout time.Duration
}

// NewClient returns a Client for the connector at connector (an http(s)://
// or ws(s):// URL, normalised by BaseURL), proving the caller with identity
// (nil when only PostPolicy will be used) and sending userAgent.
func NewClient(connector string, identity TokenSource, userAgent string) (*Client, error) {
	base, err := BaseURL(connector)
	if err != nil {
		return nil, err
	}
	return &Client{
		Connector: strings.TrimSpace(connector),
		Base:      base,
		Identity:  identity,
		HTTP:      NewHTTPClient(),
		UserAgent: userAgent,
	}, nil
}

// NewHTTPClient returns the HTTP client the control plane uses: its own
// transport (idle connections are not shared with anything else), a dial
// and TLS handshake bounded by DefaultTimeout (each exchange is further
// bounded by its context: Client.Timeout), and no redirects: a 3xx comes
// back to the caller as the answer, never followed, so a bearer is never
// replayed to another URL.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = DefaultTimeout
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// URLError reports a connector URL that cannot be mapped to an HTTP base.
type URLError struct {
	URL     string // the URL as given; empty when it carried user info
	Problem string
}

// Error describes the failure.
func (e *URLError) Error() string {
	if e.URL == "" {
		return "connector URL: " + e.Problem
	}
	return fmt.Sprintf("connector URL %q: %s", e.URL, e.Problem)
}

// BaseURL returns the HTTP base of the connector at connector: the reverse
// of the WebSocket dial mapping (docs/protocol.md, Transport). ws:// becomes
// http:// and wss:// becomes https:// (http:// and https:// stay), every
// trailing "/" is stripped, then one trailing "/relay". The endpoint paths
// are appended to the result. A URL with another scheme, no host, user
// info, whitespace inside, a query or a fragment is refused.
func BaseURL(connector string) (string, error) {
	raw := strings.TrimSpace(connector)
	if raw == "" {
		return "", &URLError{Problem: "empty"}
	}
	switch {
	case strings.HasPrefix(raw, "wss://"):
		raw = "https://" + strings.TrimPrefix(raw, "wss://")
	case strings.HasPrefix(raw, "ws://"):
		raw = "http://" + strings.TrimPrefix(raw, "ws://")
	case strings.HasPrefix(raw, "https://"), strings.HasPrefix(raw, "http://"):
	default:
		return "", &URLError{URL: connector, Problem: "want an https://, http://, wss:// or ws:// URL"}
	}
	u, err := url.Parse(raw)
	switch {
	case strings.IndexFunc(raw, unicode.IsSpace) >= 0:
		return "", &URLError{URL: connector, Problem: "contains whitespace"}
	case err != nil:
		return "", &URLError{URL: connector, Problem: "not a valid URL"}
	case u.User != nil:
		return "", &URLError{Problem: "user info (user:password@) is not supported"}
	case u.Host == "" || u.Hostname() == "":
		return "", &URLError{URL: connector, Problem: "no host"}
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return "", &URLError{URL: connector, Problem: "a query string or fragment is not supported"}
	}
	// Only the path loses its trailing slashes and /relay: the host of
	// ws://relay is a host, not a suffix.
	authority := u.Scheme + "://" + u.Host
	if !strings.HasPrefix(raw, authority) {
		return "", &URLError{URL: connector, Problem: "not a valid URL"}
	}
	path := strings.TrimRight(raw[len(authority):], "/")
	path = strings.TrimRight(strings.TrimSuffix(path, relaySuffix), "/")
	return authority + path, nil
}

// ErrCallerRejected is the cause of a 401 from enroll or provision.
var ErrCallerRejected = errors.New("the connector rejected the caller identity")

// ErrEnrollmentTokenRefused is the cause of a 403 from enroll.
var ErrEnrollmentTokenRefused = errors.New("the enrollment token is invalid, expired, already used, or for another tenant")

// StatusError is a non-2xx answer from the connector.
type StatusError struct {
	Endpoint string // EnrollPath, ProvisionPath or PolicyPath
	Status   int
	// Detail is the answer's JSON "error" field, clipped to MaxDetailBytes
	// and stripped of control characters; empty when there was none.
	Detail string
	// Location is the Location header of a 3xx answer (not followed).
	Location string
}

// cause is the sentinel a status stands for, if any.
func (e *StatusError) cause() error {
	switch {
	case e.Status == http.StatusUnauthorized && (e.Endpoint == EnrollPath || e.Endpoint == ProvisionPath):
		return ErrCallerRejected
	case e.Status == http.StatusForbidden && e.Endpoint == EnrollPath:
		return ErrEnrollmentTokenRefused
	}
	return nil
}

// Error describes the failure.
func (e *StatusError) Error() string {
	if c := e.cause(); c != nil {
		return c.Error()
	}
	msg := fmt.Sprintf("%s: the connector answered %s", e.Endpoint, statusText(e.Status))
	if e.Status >= 300 && e.Status < 400 {
		msg += " (redirects are not followed)"
		if e.Location != "" {
			msg += " to " + e.Location
		}
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns ErrCallerRejected or ErrEnrollmentTokenRefused when the
// status means one of them.
func (e *StatusError) Unwrap() error { return e.cause() }

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("HTTP %d", code)
}

// ResponseError is a 2xx answer that cannot be used: not JSON, not the
// expected object, too large, or without the credentials it must carry.
type ResponseError struct {
	Endpoint string
	Status   int
	Problem  string
}

// Error describes the failure.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("%s: unusable answer (%s): %s", e.Endpoint, statusText(e.Status), e.Problem)
}

// ErrTimeout is the cause of a TransportError whose exchange ran out of
// time.
var ErrTimeout = errors.New("no answer in time")

// TransportError is an exchange that produced no answer: the connector was
// unreachable, the connection broke, or the time ran out.
type TransportError struct {
	Endpoint string
	URL      string
	Timeout  time.Duration // set when the exchange ran out of time
	Err      error
}

// Error describes the failure.
func (e *TransportError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("%s: no answer from %s within %s", e.Endpoint, e.URL, e.Timeout)
	}
	return fmt.Sprintf("%s: %v", e.Endpoint, e.Err)
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// Is reports ErrTimeout for an exchange that ran out of time.
func (e *TransportError) Is(target error) bool { return target == ErrTimeout && e.Timeout > 0 }

// answer is one completed exchange.
type answer struct {
	status int
	body   []byte // at most MaxResponseBytes
	over   bool   // the body was longer than MaxResponseBytes
}

// post sends body as JSON to endpoint with the bearer and returns the
// answer, whatever its status. Only a missing answer is an error.
func (c *Client) post(ctx context.Context, endpoint, bearer string, body any) (answer, error) {
	payload, err := encodeJSON(body)
	if err != nil {
		return answer{}, fmt.Errorf("%s: encode request: %w", endpoint, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errExchangeTimeout)
	defer cancel()
	target := c.Base + endpoint
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return answer{}, &TransportError{Endpoint: endpoint, URL: target, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	hc := c.HTTP
	if hc == nil {
		hc = NewHTTPClient()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, transportError(ctx, endpoint, target, timeout, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return answer{}, transportError(ctx, endpoint, target, timeout, err)
	}
	a := answer{status: resp.StatusCode, body: data}
	if len(data) > MaxResponseBytes {
		a.body, a.over = data[:MaxResponseBytes], true
	}
	if resp.StatusCode >= 300 {
		return a, statusError(endpoint, resp, a.body)
	}
	return a, nil
}

// errExchangeTimeout is the cause of the deadline post puts on an exchange,
// told apart from a deadline or cancellation of the caller's context.
var errExchangeTimeout = errors.New("control-plane exchange timed out")

// transportError classifies a failed exchange: out of time (our deadline or
// a network timeout), cancelled by the caller (returned as the context's
// cause), or anything else.
func transportError(ctx context.Context, endpoint, target string, timeout time.Duration, err error) error {
	cause := context.Cause(ctx)
	var ne net.Error
	switch {
	case errors.Is(cause, errExchangeTimeout):
		return &TransportError{Endpoint: endpoint, URL: target, Timeout: timeout, Err: err}
	case cause != nil:
		return fmt.Errorf("%s: %w", endpoint, cause)
	case errors.As(err, &ne) && ne.Timeout():
		return &TransportError{Endpoint: endpoint, URL: target, Timeout: timeout, Err: err}
	}
	return &TransportError{Endpoint: endpoint, URL: target, Err: err}
}

// statusError builds the StatusError of a non-2xx answer.
func statusError(endpoint string, resp *http.Response, body []byte) *StatusError {
	e := &StatusError{Endpoint: endpoint, Status: resp.StatusCode, Detail: errorField(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Location = clip(resp.Header.Get("Location"))
	}
	return e
}

// errorField returns the clipped "error" string of a JSON object body, or
// "" when the body is not such an object.
func errorField(body []byte) string {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Error) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Error, &s) != nil {
		return ""
	}
	return clip(s)
}

// clip returns s without control characters, cut to MaxDetailBytes on a
// rune boundary ("…" marks the cut).
func clip(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		if b.Len()+len(string(r)) > MaxDetailBytes {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// encodeJSON marshals v compactly without HTML escaping, as the reference
// gateway sends it.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeObject returns the members of a 2xx answer that must be a JSON
// object, or the ResponseError saying why it is not one.
func decodeObject(endpoint string, a answer) (map[string]json.RawMessage, error) {
	if a.over {
		return nil, &ResponseError{Endpoint: endpoint, Status: a.status, Problem: fmt.Sprintf("larger than %d bytes", MaxResponseBytes)}
	}
	if !json.Valid(a.body) {
		return nil, &ResponseError{Endpoint: endpoint, Status: a.status, Problem: "not JSON"}
	}
	var m map[string]json.RawMessage
	if trimmed := bytes.TrimSpace(a.body); trimmed[0] != '{' || json.Unmarshal(trimmed, &m) != nil {
		return nil, &ResponseError{Endpoint: endpoint, Status: a.status, Problem: "not a JSON object"}
	}
	return m, nil
}

// bearer fetches the caller identity token.
func (c *Client) bearer(ctx context.Context, endpoint string) (string, error) {
	if c.Identity == nil {
		return "", fmt.Errorf("%s: %w", endpoint, ErrNoIdentity)
	}
	tok, err := c.Identity.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: caller identity: %w", endpoint, err)
	}
	return tok, nil
}
