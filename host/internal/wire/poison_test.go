package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// poisonFrames are the bad forwards of the hardening probe (issue 15, High
// 0 and 1, Medium 3), each a buffered forward that must be rejected alone
// with its bufferId readable, so that the transport settles it as a
// deliberate drop instead of handing a plugin, a metric label or a log
// something the connector did not forward as a string.
var poisonFrames = []struct {
	name, line, kind string
}{
	{"platform is an array holding a raw 0xFF byte", `{"type":"passthrough_forward","forward":{"platform":["discord","` + "\xff" + `"],"bodyB64":"e30="},"bufferId":"pbuf-1"}`, BadFrameEncoding},
	{"platform is an array", `{"type":"passthrough_forward","forward":{"platform":["discord","x"],"bodyB64":"e30="},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"path is an array holding 0xFF", `{"type":"passthrough_forward","forward":{"platform":"discord","path":["` + "\xff" + `"]},"bufferId":"pbuf-1"}`, BadFrameEncoding},
	{"path is an array", `{"type":"passthrough_forward","forward":{"platform":"discord","path":["/i"]},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"header value is an object holding 0xFF", `{"type":"passthrough_forward","forward":{"platform":"discord","headers":[["x",{"a":"` + "\xff" + `"}]]},"bufferId":"pbuf-1"}`, BadFrameEncoding},
	{"header value string holds 0xFF", `{"type":"passthrough_forward","forward":{"platform":"discord","headers":[["x","` + "\xff" + `"]]},"bufferId":"pbuf-1"}`, BadFrameEncoding},
	{"method is an object", `{"type":"passthrough_forward","forward":{"platform":"discord","method":{"verb":"POST"}},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"botId is a number", `{"type":"passthrough_forward","forward":{"platform":"discord","botId":123},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"profile is true", `{"type":"passthrough_forward","forward":{"platform":"discord","profile":true},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"platform over the limit", `{"type":"passthrough_forward","forward":{"platform":"` + strings.Repeat("d", MaxIDBytes+1) + `"},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"botId over the limit", `{"type":"passthrough_forward","forward":{"platform":"discord","botId":"` + strings.Repeat("1", MaxIDBytes+1) + `"},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"profile over the limit", `{"type":"passthrough_forward","forward":{"platform":"discord","profile":"` + strings.Repeat("p", MaxIDBytes+1) + `"},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"method over the limit", `{"type":"passthrough_forward","forward":{"platform":"discord","method":"` + strings.Repeat("P", MaxMethodBytes+1) + `"},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"path over the limit", `{"type":"passthrough_forward","forward":{"platform":"discord","path":"/` + strings.Repeat("a", MaxPathBytes) + `"},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"header name over the limit", `{"type":"passthrough_forward","forward":{"platform":"discord","headers":[["` + strings.Repeat("n", MaxHeaderNameBytes+1) + `","v"]]},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"header value over the limit", `{"type":"passthrough_forward","forward":{"platform":"discord","headers":[["n","` + strings.Repeat("v", MaxHeaderValueBytes+1) + `"]]},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"too many headers", `{"type":"passthrough_forward","forward":{"platform":"discord","headers":[` + strings.Repeat(`["n","v"],`, MaxHeaders) + `["n","v"]]},"bufferId":"pbuf-1"}`, BadFramePassthrough},
	{"nested past encoding/json's depth limit", `{"type":"passthrough_forward","bufferId":"pbuf-1","forward":{"platform":"discord","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`, BadFrameMalformedJSON},
	{"JSON broken after the envelope", `{"type":"passthrough_forward","bufferId":"pbuf-1","forward":{"platform":"discord",`, BadFrameMalformedJSON},
	{"invalid UTF-8 in an inbound event", `{"type":"inbound","event":{"text":"` + "\xc3(" + `"},"bufferId":"pbuf-1"}`, BadFrameEncoding},
}

func TestPoisonForwardsAreRejectedWithTheirBufferID(t *testing.T) {
	for _, tc := range poisonFrames {
		t.Run(tc.name, func(t *testing.T) {
			f, err := DecodeFrame([]byte(tc.line))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeFrame = %+v, %v; want a *DecodeError", f.Forward, err)
			}
			wantType := TypePassthroughForward
			if strings.Contains(tc.line, `"type":"inbound"`) {
				wantType = TypeInbound
			}
			if de.Kind != tc.kind || de.Type != wantType || de.BufferID != "pbuf-1" {
				t.Fatalf("DecodeError kind %q type %q bufferId %q, want %q %q %q (%v)", de.Kind, de.Type, de.BufferID, tc.kind, wantType, "pbuf-1", de)
			}
			if !utf8.ValidString(de.Error()) || len(de.Error()) > 200 {
				t.Fatalf("error text is not short, valid UTF-8: %q", de.Error())
			}
		})
	}
}

func TestDeliveryBufferIDMustBeAString(t *testing.T) {
	for _, tc := range []struct {
		name, line, kind, bufferID string
	}{
		{"number: rejected, acked by its digits", `{"type":"passthrough_forward","forward":{},"bufferId":42}`, BadFramePassthrough, "42"},
		{"object: rejected, nothing to ack", `{"type":"passthrough_forward","forward":{},"bufferId":{"id":"x"}}`, BadFramePassthrough, ""},
		{"over the limit: rejected, acked by it", `{"type":"passthrough_forward","forward":{},"bufferId":"` + strings.Repeat("b", MaxIDBytes+1) + `"}`, BadFramePassthrough, strings.Repeat("b", MaxIDBytes+1)},
		{"inbound with a boolean", `{"type":"inbound","event":{},"bufferId":true}`, BadFrameInbound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFrame([]byte(tc.line))
			var de *DecodeError
			if !errors.As(err, &de) || de.Kind != tc.kind || de.BufferID != tc.bufferID {
				t.Fatalf("error %v, want kind %q with bufferId %q", err, tc.kind, tc.bufferID)
			}
		})
	}
}

func TestOversizeLineKeepsItsBufferID(t *testing.T) {
	const max = 1 << 10
	big := strings.Repeat("A", 4*max)
	for _, tc := range []struct {
		name string
		msgs []string
		typ  FrameType
		id   string
	}{
		{"bufferId after the body, one message", []string{`{"type":"passthrough_forward","forward":{"bodyB64":"` + big + `"},"bufferId":"pbuf-9"}` + "\n"},
			TypePassthroughForward, "pbuf-9"},
		{"bufferId first, spread over messages", []string{`{"bufferId":"pbuf-9","type":"passthrough_forward",`, `"forward":{"bodyB64":"` + big, big + `"}}`, "\n"},
			TypePassthroughForward, "pbuf-9"},
		{"split inside the bufferId and an escape", []string{`{"type":"inbound","event":{"text":"` + big + `\`, `"x"},"buffer`, `Id":"buf-`, `3"}` + "\n"},
			TypeInbound, "buf-3"},
		{"a nested bufferId is not the frame's", []string{`{"type":"passthrough_forward","forward":{"bufferId":"inner","bodyB64":"` + big + `"}}` + "\n"},
			TypePassthroughForward, ""},
		{"held line grows over the limit", []string{`{"type":"passthrough_forward","bufferId":"pbuf-4","forward":{"bodyB64":"`, strings.Repeat("A", max) + `"}}` + "\n"},
			TypePassthroughForward, "pbuf-4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := NewSplitter(max)
			var got []*DecodeError
			for _, m := range tc.msgs {
				sp.Feed([]byte(m), func(line []byte, err error) {
					var de *DecodeError
					if !errors.As(err, &de) {
						t.Fatalf("line %.40q passed the limit", line)
					}
					got = append(got, de)
				})
			}
			if len(got) != 1 || got[0].Kind != BadFrameOversize || got[0].Type != tc.typ || got[0].BufferID != tc.id {
				t.Fatalf("errors %+v, want one oversize error with type %q and bufferId %q", got, tc.typ, tc.id)
			}
			// The next line is read normally.
			var next []string
			sp.Feed([]byte(`{"type":"going_idle_ack"}`+"\n"), func(line []byte, err error) { next = append(next, string(line)) })
			if len(next) != 1 {
				t.Fatalf("the line after the oversize one: %q", next)
			}
		})
	}
}

// sniffWant is what encoding/json reads as the top-level "type" and
// "bufferId" of a valid JSON object, as the sniffer reports them: a string
// of at most MaxIDBytes, else "". ok is false when data is not a JSON
// object.
func sniffWant(data []byte) (typ, bufferID string, ok bool) {
	var m map[string]json.RawMessage
	if !json.Valid(data) || json.Unmarshal(data, &m) != nil || m == nil {
		return "", "", false
	}
	// encoding/json keeps the last of repeated keys, as the sniffer does.
	str := func(r json.RawMessage) string {
		var v string
		if len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &v) != nil || len(v) > MaxIDBytes {
			return ""
		}
		return v
	}
	return str(m["type"]), str(m["bufferId"]), true
}

func FuzzSniffEnvelope(f *testing.F) {
	for _, s := range fastPathSeeds {
		f.Add([]byte(s.line), uint16(len(s.line)/2))
	}
	for _, s := range poisonFrames {
		f.Add([]byte(s.line[:min(len(s.line), 2000)]), uint16(17))
	}
	f.Add([]byte(`{"bufferId":"a","type":"inbound","bufferId":"b"}`), uint16(5))
	f.Add([]byte(`{"bufferId":"a","bufferId":{"x":"y"}}`), uint16(3))
	f.Add([]byte(` {"type" : "x\"y", "bufferId" : "a\\b"} `), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		typ, id := sniffEnvelope(data)
		if !utf8.ValidString(id) || len(id) > MaxIDBytes || len(typ) > MaxIDBytes {
			t.Fatalf("sniffed type %q bufferId %q: not short valid UTF-8", typ, id)
		}
		// Chunking never changes what is read.
		c := 0
		if len(data) > 0 {
			c = int(cut) % (len(data) + 1)
		}
		var s envelopeSniffer
		s.feed(data[:c/2])
		s.feed(data[c/2 : c])
		s.feed(data[c:])
		if FrameType(s.typ) != typ || s.bufferID != id {
			t.Fatalf("in chunks at %d and %d: %q %q, whole: %q %q", c/2, c, s.typ, s.bufferID, typ, id)
		}
		// On a valid object it reads what encoding/json reads.
		if wantTyp, wantID, ok := sniffWant(data); ok && utf8.Valid(data) {
			if string(typ) != wantTyp || id != wantID {
				t.Fatalf("sniffed %q %q, encoding/json reads %q %q", typ, id, wantTyp, wantID)
			}
		}
	})
}

// A descriptor's strings are clipped (issue 15, Medium 3: descriptors of
// 1 MB each were kept whole): the connection holds its descriptors for its
// life and shows them to the agent.
func TestDescriptorStringsAreClipped(t *testing.T) {
	long := strings.Repeat("é", 1<<16)
	ops := make([]string, 1000)
	for i := range ops {
		ops[i] = `"` + long[:100] + `"`
	}
	raw := `{"contract_version":1,"platform":"` + long + `","label":"` + long + `","max_message_length":2000,` +
		`"supports_draft_streaming":false,"supports_edit":true,"supports_threads":true,"markdown_dialect":"` + long +
		`","len_unit":"` + long + `","emoji":"` + long + `","platform_hint":"` + long + `","supported_ops":[` + strings.Join(ops, ",") + `]}`
	d, err := ParseDescriptor([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"platform": d.Platform, "label": d.Label, "markdown_dialect": d.MarkdownDialect,
		"len_unit": d.LenUnit, "emoji": d.Emoji, "platform_hint": d.PlatformHint} {
		if len(s) > maxDescriptorHint || !utf8.ValidString(s) || s == "" {
			t.Errorf("%s is %d bytes (valid UTF-8: %v), want clipped to a few KiB at a character boundary", name, len(s), utf8.ValidString(s))
		}
	}
	if len(d.Label) > maxDescriptorString || len(d.Platform) > MaxIDBytes {
		t.Errorf("label %d bytes, platform %d bytes: over their limits", len(d.Label), len(d.Platform))
	}
	if len(d.SupportedOps) > maxSupportedOps {
		t.Errorf("%d supported_ops kept, want at most %d", len(d.SupportedOps), maxSupportedOps)
	}
}
