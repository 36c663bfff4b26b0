package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// decodeBoth decodes a trimmed line with the fast path and with the slow
// path DecodeFrame falls back to (encoding/json); fastOK says whether the
// fast path applied.
func decodeBoth(line []byte) (fast, slow Frame, fastErr, slowErr error, fastOK bool) {
	var wf, ws wireFrame
	notObj, ok := scanFrame(line, &wf)
	if ok {
		fast, fastErr = frameFrom(&wf, notObj)
	}
	notObj, err := unmarshalFrame(line, &ws)
	if err != nil {
		return fast, Frame{}, fastErr, err, ok
	}
	slow, slowErr = frameFrom(&ws, notObj)
	return fast, slow, fastErr, slowErr, ok
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkFastPath fails when the fast path accepted a line that encoding/json
// reads differently (or rejects), and when DecodeFrame's answer is not the
// one of the path it took. It reports whether the fast path took the line.
func checkFastPath(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	line := bytes.TrimSpace(data)
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	fastF, slowF, fastErr, slowErr, ok := decodeBoth(line)
	if ok {
		if !json.Valid(line) {
			t.Fatalf("fast path accepted invalid JSON %q", line)
		}
		if !reflect.DeepEqual(fastF, slowF) || errText(fastErr) != errText(slowErr) {
			t.Fatalf("fast path disagrees with encoding/json on %q:\nfast %+v (%v)\nslow %+v (%v)", line, fastF, fastErr, slowF, slowErr)
		}
	}
	if got, err := DecodeFrame(line); !reflect.DeepEqual(got, slowF) || errText(err) != errText(slowErr) {
		t.Fatalf("DecodeFrame(%q) = %+v (%v), want what encoding/json makes of it: %+v (%v)", line, got, err, slowF, slowErr)
	}
	return ok
}

// fastPathSeed is a line whose meaning under encoding/json is easy to get
// wrong, with the path DecodeFrame must take for it and what it must make
// of it.
type fastPathSeed struct {
	line string
	// fast says the fast path takes the line; otherwise it must leave it to
	// encoding/json.
	fast bool
	// want is the decoded frame's type, or "error: " and the DecodeError
	// kind.
	want string
}

var fastPathSeeds = []fastPathSeed{
	{`{"type":"passthrough_forward","forward":{"platform":"discord","botId":"a","method":"POST","path":"/i","headers":[["content-type","application/json"],["x"]],"bodyB64":"eyJ0eXBlIjoxfQ==","profile":"p"},"bufferId":"pbuf-7"}`, true, "passthrough_forward"},
	{` { "type" : "passthrough_forward" , "forward" : { "bodyB64" : "eyJ0eXBlIjoxfQ==" , "headers" : [ [ "a" , "b" ] ] } , "bufferId" : "7" } `, true, "passthrough_forward"},
	{` { "type" : "passthrough_forward" , "forward" : { "bodyB64" : "eyJ0eXBlIjoxfQ==" } , "bufferId" : 7 } `, true, "error: " + BadFramePassthrough},
	// Keys that differ from a field's name only by case: encoding/json
	// still matches them, the fast path leaves them to it.
	{`{"TYPE":"passthrough_forward","forward":{}}`, false, "passthrough_forward"},
	{`{"type":"passthrough_forward","Forward":{"platform":"x"}}`, false, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":{"Platform":"x","platform":"y"}}`, false, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":{"bodyb64":"YQ=="}}`, false, "passthrough_forward"},
	{`{"ſession_key":"k","type":"interrupt_inbound"}`, false, "interrupt_inbound"}, // ſ folds to s
	// An escaped key.
	{`{"typ\u0065":"passthrough_forward","forward":{}}`, false, "passthrough_forward"},
	// A repeated "forward": encoding/json merges the two objects.
	{`{"type":"passthrough_forward","forward":{"platform":"a"},"forward":{"path":"/b"}}`, false, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":null}`, true, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":"x","bufferId":"b1"}`, true, "error: " + BadFramePassthrough},
	{`{"type":"passthrough_forward","forward":[1],"bufferId":"b1"}`, true, "error: " + BadFramePassthrough},
	{`{"type":"inbound","forward":5,"event":{"text":"hi"}}`, true, "inbound"},
	{`{"type":"passthrough_forward","forward":{"platform":null,"botId":null,"headers":null,"bodyB64":null,"profile":null}}`, true, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":{"platform":"a","botId":12}}`, true, "error: " + BadFramePassthrough},
	{`{"type":"passthrough_forward","forward":{"method":true}}`, true, "error: " + BadFramePassthrough},
	{`{"type":"passthrough_forward","forward":{"path":{"a":1}}}`, true, "error: " + BadFramePassthrough},
	{`{"type":"passthrough_forward","forward":{"profile":["p"]}}`, true, "error: " + BadFramePassthrough},
	{`{"type":"passthrough_forward","forward":{"platform":{},"platform":"discord"}}`, true, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":{"headers":[["a","b"],["c",1],[{},"d"],["e"]]}}`, true, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":{"headers":[["a","b"]],"headers":[["c","d"]],"bodyB64":"YQ==","bodyB64":"Yg=="}}`, true, "passthrough_forward"},
	{`{"type":"passthrough_forward","forward":{"path":"/\u00e9\ud83d\ude00","bodyB64":"ey\/J9"}}`, true, "passthrough_forward"},
	// Invalid UTF-8 anywhere: the fast path leaves it to encoding/json's
	// path, which refuses the line.
	{"{\"type\":\"passthrough_forward\",\"forward\":{\"path\":\"\xff\xfe\",\"bodyB64\":\"!!!not base64!!!\"}}", false, "error: " + BadFrameEncoding},
	{"{\"type\":\"inbound\",\"event\":{\"text\":\"caf\xc3\"}}", false, "error: " + BadFrameEncoding},
	{"{\"type\":\"inbound\",\"event\":{\"text\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}}", true, "inbound"},
	{`{"type":"passthrough_forward","forward":{"path":"a` + "\x01" + `b"}}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":"outbound_result","requestId":"3f2a","result":{"success":true,"message_id":"m1"}}`, true, "outbound_result"},
	{`{"type":"outbound_result","requestId":12.5e-3,"result":{"success":1}}`, true, "outbound_result"},
	{`{"type":"outbound_result","requestId":-0,"result":[]}`, true, "outbound_result"},
	{`{"type":"descriptor","descriptor":{"contract_version":1,"platform":"discord","label":"D","max_message_length":2000,"supports_draft_streaming":false,"supports_edit":true,"supports_threads":true,"markdown_dialect":"discord","len_unit":"utf16"}}`, true, "descriptor"},
	{`{"type":"interrupt_inbound","session_key":"k","chat_id":5}`, true, "interrupt_inbound"},
	{`{"type":"going_idle_ack"}`, true, "going_idle_ack"},
	// Nesting beyond scanMaxDepth.
	{`{"type":"passthrough_forward","forward":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`, false, "passthrough_forward"},
	{`{"a":{"b":[1,2,{"c":null}],"d":"e"},"type":"passthrough_forward","forward":{"platform":"discord"}}`, true, "passthrough_forward"},
	// Not JSON.
	{`{"type":"passthrough_forward","forward":{}} {}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":"passthrough_forward","forward":{},}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":01}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":1.}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":1e}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":-}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":"\x"}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":"\u12"}`, false, "error: " + BadFrameMalformedJSON},
	{`{"type":tru}`, false, "error: " + BadFrameMalformedJSON},
}

// outcome is a seed's want for a decoded frame.
func outcome(f Frame, err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return "error: " + de.Kind
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return string(f.Type)
}

func TestFastPathAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range fastPathSeeds {
		t.Run(s.line[:min(len(s.line), 40)], func(t *testing.T) {
			if fast := checkFastPath(t, []byte(s.line)); fast != s.fast {
				t.Errorf("fast path took the line: %v, want %v", fast, s.fast)
			}
			if got := outcome(DecodeFrame([]byte(s.line))); got != s.want {
				t.Errorf("DecodeFrame = %s, want %s", got, s.want)
			}
		})
	}
}

func TestFastPathTakesTheUsualFrames(t *testing.T) {
	for _, line := range [][]byte{
		benchForwardLine(),
		[]byte(`{"type":"outbound_result","requestId":"3f2a","result":{"success":true,"message_id":"m1"}}`),
		[]byte(`{"type": "inbound", "event": {"text": "hi", "source": {"platform": "discord"}}, "bufferId": "b-1"}`),
	} {
		var w wireFrame
		if _, ok := scanFrame(line, &w); !ok {
			t.Errorf("the fast path refused %s", line)
		}
	}
}

func FuzzDecodeFrameFastPath(f *testing.F) {
	for _, s := range fastPathSeeds {
		f.Add([]byte(s.line))
	}
	f.Add(benchForwardLine())
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastPath(t, data)
		// A line that is not an object reaches neither path; DecodeFrame
		// must still answer without panicking.
		_, _ = DecodeFrame(data)
	})
}

// BenchmarkDecodeFrameEncodingJSON is BenchmarkDecodeFrame through the slow
// path alone (encoding/json), for comparison with the fast path.
func BenchmarkDecodeFrameEncodingJSON(b *testing.B) {
	line := benchForwardLine()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var w wireFrame
		notObj, err := unmarshalFrame(line, &w)
		if err != nil {
			b.Fatal(err)
		}
		if f, err := frameFrom(&w, notObj); err != nil || f.Forward == nil {
			b.Fatal(err)
		}
	}
}

// checkResultFastPath fails when the result fast path accepted an object
// that the slow path (decodeResult) reads differently, and when parseResult
// does not answer what the path it took does. It reports whether the fast
// path took the object.
func checkResultFastPath(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	res, ok := scanResult(data)
	if ok {
		if !json.Valid(data) {
			t.Fatalf("fast path accepted invalid JSON %q", data)
		}
		// A trailing value after the object never reaches parseResult
		// (frameFrom only ever passes one value), so compare what the slow
		// path makes of the same single object.
		if slow := decodeResult(data); !reflect.DeepEqual(res, slow) {
			t.Fatalf("result fast path disagrees on %q:\nfast %+v\nslow %+v", data, res, slow)
		}
	}
	if rawKind(data) == '{' {
		want := res
		if !ok {
			want = decodeResult(data)
		}
		if got := parseResult(data); !reflect.DeepEqual(got, want) {
			t.Fatalf("parseResult(%q) = %+v, want %+v", data, got, want)
		}
	}
	return ok
}

// resultSeed is a result object with the path parseResult must take for it
// and the fields it must read.
type resultSeed struct {
	object string
	fast   bool
	want   OutboundResult // Raw is not compared
}

var resultSeeds = []resultSeed{
	{`{"success":true,"message_id":"m-1"}`, true, OutboundResult{Success: true, MessageID: "m-1"}},
	{` { "success" : 1 , "message_id" : 12345678901234567890 , "error" : null , "code" : "egress_declined" } `, true,
		OutboundResult{Success: true, MessageID: "12345678901234567890", Code: EgressDeclinedCode}},
	{`{"success":false,"error":"egress declined: x","extra":-1.5e3}`, true, OutboundResult{Error: "egress declined: x"}},
	{`{"success":"false"}`, true, OutboundResult{Success: true}}, // Python truthiness: a non-empty string
	{`{"success":""}`, true, OutboundResult{}},
	{`{"success":0.0}`, true, OutboundResult{}},
	{`{"success":true,"success":false}`, true, OutboundResult{}}, // the last one wins
	{`{}`, true, OutboundResult{}},
	// Case-folded and escaped keys, escaped strings, nested values and
	// invalid UTF-8 are left to encoding/json.
	{`{"Success":true}`, false, OutboundResult{Success: true}},
	{`{"succes\u0073":true}`, false, OutboundResult{Success: true}},
	{`{"message_id":"\u00e9"}`, false, OutboundResult{MessageID: "é"}},
	{`{"message_id":{"a":1}}`, false, OutboundResult{MessageID: `{"a":1}`}},
	{`{"x":[1]}`, false, OutboundResult{}},
	{"{\"message_id\":\"\xff\"}", false, OutboundResult{MessageID: "\ufffd"}},
	// Not JSON: an ambiguous failure.
	{`{"a":tru}`, false, OutboundResult{Error: "relay outbound_result carried a non-object result", Ambiguous: true}},
	{`{"success":true}x`, false, OutboundResult{}},
}

func TestResultFastPathAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range resultSeeds {
		t.Run(s.object, func(t *testing.T) {
			if fast := checkResultFastPath(t, []byte(s.object)); fast != s.fast {
				t.Errorf("fast path took the object: %v, want %v", fast, s.fast)
			}
			got := parseResult([]byte(s.object))
			got.Raw = nil
			if !reflect.DeepEqual(got, s.want) {
				t.Errorf("parseResult = %+v, want %+v", got, s.want)
			}
		})
	}
}

func FuzzResultFastPath(f *testing.F) {
	for _, s := range resultSeeds {
		f.Add([]byte(s.object))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkResultFastPath(t, data)
	})
}
