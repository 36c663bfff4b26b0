package wire

// Field limits of the strings a connector controls. A passthrough_forward
// whose strings break them is rejected alone (a *DecodeError of kind
// BadFramePassthrough, acked as a deliberate drop when buffered): those
// strings go to a plugin over gRPC, into logs, metrics and the replay
// ledger, and none of them has a legitimate use anywhere near these sizes.
// docs/operating.md, Limits and isolation, lists them with the others.
const (
	// MaxIDBytes bounds platform, botId, profile and bufferId. Platform
	// names are short tokens (an --identity platform is at most 32
	// bytes), bot ids are Discord snowflakes (at most 20 digits), profiles
	// are agent profile names and buffer ids the connector's own short
	// counters ("pbuf-7"). 256 bytes is eight times the longest of those.
	MaxIDBytes = 256
	// MaxMethodBytes bounds forward.method: an HTTP method token ("POST");
	// the longest registered one (UPDATEREDIRECTREF) has 17 bytes.
	MaxMethodBytes = 32
	// MaxPathBytes bounds forward.path, the forwarded request target: 8 KiB
	// is the request-line limit of common HTTP servers (nginx's
	// large_client_header_buffers, Apache's LimitRequestLine), so no
	// request the connector received can have a longer one.
	MaxPathBytes = 8 << 10
	// MaxHeaders bounds the header pairs kept from forward.headers: the
	// default limit of common HTTP servers is 100 request header fields
	// (Apache LimitRequestFields, Node's maxHeadersCount is 2000 but its
	// header block is capped at 16 KiB); 128 leaves room above 100.
	MaxHeaders = 128
	// MaxHeaderNameBytes bounds one header name.
	MaxHeaderNameBytes = 256
	// MaxHeaderValueBytes bounds one header value: 8 KiB, the common
	// servers' per-header-line limit, as for the path.
	MaxHeaderValueBytes = 8 << 10
)

// Descriptor string limits. A descriptor is the connector's description of
// a platform, kept for the life of the connection and shown to the agent;
// longer strings are clipped (at a UTF-8 boundary) rather than refused, so
// that an overlong label cannot stop the handshake.
const (
	// maxDescriptorString bounds label, markdown_dialect, len_unit, emoji
	// and each supported_ops entry.
	maxDescriptorString = 256
	// maxDescriptorHint bounds platform_hint, free text for the agent:
	// a few paragraphs.
	maxDescriptorHint = 4 << 10
	// maxSupportedOps bounds the supported_ops list; the contract names
	// about a dozen ops.
	maxSupportedOps = 64
)
