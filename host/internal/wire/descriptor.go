package wire

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Descriptor constants of docs/protocol.md, Descriptor.
const (
	// ContractVersion is the descriptor contract version the reference
	// speaks (descriptor.py CONTRACT_VERSION).
	ContractVersion = 1
	// DefaultMaxMessageLength replaces a max_message_length that is not a
	// positive integer (descriptor.py normalisation).
	DefaultMaxMessageLength = 4096
	// DefaultEmoji is the emoji of a descriptor that sends none.
	DefaultEmoji = "\U0001F50C" // 🔌
)

// Descriptor is the capability descriptor the connector sends once per hello
// (docs/protocol.md, Descriptor). Its JSON form is the wire form, so a test
// connector can send one with json.Marshal.
type Descriptor struct {
	// ContractVersion is the connector's contract version (currently 1).
	ContractVersion int `json:"contract_version"`
	// Platform is the platform this descriptor describes, e.g. "discord".
	Platform string `json:"platform"`
	// Label is a human-readable name for the platform.
	Label string `json:"label"`
	// MaxMessageLength is the longest message the platform accepts, in
	// LenUnit; always positive after parsing.
	MaxMessageLength int `json:"max_message_length"`
	// SupportsDraftStreaming says whether drafts can be streamed.
	SupportsDraftStreaming bool `json:"supports_draft_streaming"`
	// SupportsEdit says whether sent messages can be edited.
	SupportsEdit bool `json:"supports_edit"`
	// SupportsThreads says whether the platform has threads.
	SupportsThreads bool `json:"supports_threads"`
	// MarkdownDialect names the markup: "plain", "markdown_v2", "discord", …
	MarkdownDialect string `json:"markdown_dialect"`
	// LenUnit is "chars" (code points) or "utf16" (UTF-16 code units).
	LenUnit string `json:"len_unit"`
	// Emoji is the platform's emoji (default DefaultEmoji).
	Emoji string `json:"emoji"`
	// PlatformHint is free text about the platform for the agent.
	PlatformHint string `json:"platform_hint"`
	// PIISafe says whether the platform may carry personal data.
	PIISafe bool `json:"pii_safe"`
	// SupportsContext says whether events may carry channel context.
	SupportsContext bool `json:"supports_context"`
	// SupportsInchannelContinuable says whether a flat continuable surface
	// is possible in a channel.
	SupportsInchannelContinuable bool `json:"supports_inchannel_continuable"`
	// SupportsBlockFormatting says whether format_hints may be sent.
	SupportsBlockFormatting bool `json:"supports_block_formatting"`
	// SupportedOps are the outbound ops the connector implements; empty means
	// the legacy set (see SupportsOp).
	SupportedOps []string `json:"supported_ops"`
}

// LegacyOps returns the op set assumed when a descriptor advertises no
// supported_ops: send, edit, typing, follow_up (docs/protocol.md,
// Descriptor: op gating).
func LegacyOps() []string { return []string{"send", "edit", "typing", "follow_up"} }

// SupportsOp reports whether the connector advertises op, falling back to
// LegacyOps when SupportedOps is empty.
func (d Descriptor) SupportsOp(op string) bool {
	if len(d.SupportedOps) == 0 {
		return slices.Contains(LegacyOps(), op)
	}
	return slices.Contains(d.SupportedOps, op)
}

// descriptorRequired are the nine keys a descriptor must carry
// (docs/protocol.md, Descriptor).
var descriptorRequired = [...]string{
	"contract_version", "platform", "label", "max_message_length",
	"supports_draft_streaming", "supports_edit", "supports_threads",
	"markdown_dialect", "len_unit",
}

// ParseDescriptor decodes and normalises a descriptor object
// (docs/protocol.md, Descriptor): unknown keys are ignored, a
// max_message_length that is not a positive integer becomes
// DefaultMaxMessageLength, supported_ops keeps only non-empty string entries
// (a non-list becomes empty), optional fields take their defaults, and
// strings are clipped to the descriptor limits of limits.go. It fails, naming
// the keys, when any of the nine required keys is missing.
func ParseDescriptor(raw []byte) (Descriptor, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return Descriptor{}, fmt.Errorf("descriptor is not a JSON object")
	}
	var missing []string
	for _, k := range descriptorRequired {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Descriptor{}, fmt.Errorf("descriptor missing required keys: %s", strings.Join(missing, ", "))
	}
	d := Descriptor{
		Platform:                     clipUTF8(rawString(m["platform"]), MaxIDBytes),
		Label:                        clipUTF8(rawString(m["label"]), maxDescriptorString),
		SupportsDraftStreaming:       rawTruthy(m["supports_draft_streaming"]),
		SupportsEdit:                 rawTruthy(m["supports_edit"]),
		SupportsThreads:              rawTruthy(m["supports_threads"]),
		MarkdownDialect:              clipUTF8(rawString(m["markdown_dialect"]), maxDescriptorString),
		LenUnit:                      clipUTF8(rawString(m["len_unit"]), maxDescriptorString),
		Emoji:                        DefaultEmoji,
		PlatformHint:                 clipUTF8(rawString(m["platform_hint"]), maxDescriptorHint),
		PIISafe:                      rawTruthy(m["pii_safe"]),
		SupportsContext:              rawTruthy(m["supports_context"]),
		SupportsInchannelContinuable: rawTruthy(m["supports_inchannel_continuable"]),
		SupportsBlockFormatting:      rawTruthy(m["supports_block_formatting"]),
	}
	if v, ok := rawInt(m["contract_version"]); ok {
		d.ContractVersion = clampInt(v)
	}
	d.MaxMessageLength = DefaultMaxMessageLength
	if v, ok := rawInt(m["max_message_length"]); ok && v > 0 {
		d.MaxMessageLength = clampInt(v)
	}
	if e, ok := m["emoji"]; ok {
		d.Emoji = clipUTF8(rawString(e), maxDescriptorString)
	}
	for _, op := range rawArray(m["supported_ops"]) {
		if len(d.SupportedOps) == maxSupportedOps {
			break
		}
		if s := rawPlainString(op); rawKind(op) == '"' && s != "" {
			d.SupportedOps = append(d.SupportedOps, clipUTF8(s, maxDescriptorString))
		}
	}
	return d, nil
}

func clampInt(v int64) int {
	const maxInt = int64(^uint(0) >> 1)
	if v > maxInt {
		return int(maxInt)
	}
	if v < -maxInt-1 {
		return int(-maxInt - 1)
	}
	return int(v)
}

// clipUTF8 returns s cut to at most n bytes, at a character boundary.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
