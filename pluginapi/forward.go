package pluginapi

// Header is one HTTP header as the platform sent it. Forwards keep headers as
// an ordered list of pairs, duplicates included, exactly as they arrived at the
// connector.
type Header struct {
	// Name is the header name as forwarded (the connector lower-cases it).
	Name string `json:"name"`
	// Value is the header value.
	Value string `json:"value"`
}

// Forward is one platform request that the connector received at its edge,
// acknowledged, stripped of credentials and forwarded down the relay link
// (docs/protocol.md, passthrough_forward).
type Forward struct {
	// Platform names the platform that sent the request, e.g. "discord".
	Platform string `json:"platform"`
	// BotID is the platform identity (application or account id) the
	// request was addressed to; "" when the connector did not say.
	BotID string `json:"botId"`
	// Method is the HTTP method of the original request.
	Method string `json:"method"`
	// Path is the HTTP path of the original request at the connector.
	Path string `json:"path"`
	// Headers are the original request headers, in arrival order.
	Headers []Header `json:"headers,omitempty"`
	// Body is the exact request body bytes.
	Body []byte `json:"-"`
	// Profile is the agent profile the connector routed the request to; ""
	// means the default profile.
	Profile string `json:"profile,omitempty"`
	// BufferID is set when the connector buffered this forward while the
	// host was away; the host acknowledges it once the work is handed off.
	BufferID string `json:"bufferId,omitempty"`
	// ID is the host's id for this forward; the host's log lines about it
	// and the logger LoggerFrom returns carry it as forward_id. "" with a
	// host older than SDK 1.0.
	ID string `json:"id,omitempty"`
}

// Header returns the value of the first header named name (compared
// case-insensitively) and whether one was present.
func (f Forward) Header(name string) (string, bool) {
	for _, h := range f.Headers {
		if equalFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// equalFold is an ASCII-only strings.EqualFold: header names are ASCII.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
