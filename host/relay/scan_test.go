package relay

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeBoth decodes a trimmed line with the fast path and with
// encoding/json; fastOK says whether the fast path applied.
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
// reads differently (or rejects).
func checkFastPath(t *testing.T, data []byte) {
	t.Helper()
	line := bytes.TrimSpace(data)
	if len(line) == 0 || line[0] != '{' {
		return
	}
	fast, slow, fastErr, slowErr, ok := decodeBoth(line)
	if !ok {
		return
	}
	if !json.Valid(line) {
		t.Fatalf("fast path accepted invalid JSON %q", line)
	}
	if !reflect.DeepEqual(fast, slow) || errText(fastErr) != errText(slowErr) {
		t.Fatalf("fast path disagrees with encoding/json on %q:\nfast %+v (%v)\nslow %+v (%v)", line, fast, fastErr, slow, slowErr)
	}
}

// fastPathSeeds are lines whose meaning under encoding/json is easy to get
// wrong.
var fastPathSeeds = []string{
	`{"type":"passthrough_forward","forward":{"platform":"discord","botId":"a","method":"POST","path":"/i","headers":[["content-type","application/json"],["x"]],"bodyB64":"eyJ0eXBlIjoxfQ==","profile":"p"},"bufferId":"pbuf-7"}`,
	` { "type" : "passthrough_forward" , "forward" : { "bodyB64" : "eyJ0eXBlIjoxfQ==" , "headers" : [ [ "a" , "b" ] ] } , "bufferId" : 7 } `,
	`{"TYPE":"passthrough_forward","forward":{}}`,
	`{"type":"passthrough_forward","Forward":{"platform":"x"}}`,
	`{"type":"passthrough_forward","forward":{"Platform":"x","platform":"y"}}`,
	`{"typ\u0065":"passthrough_forward","forward":{}}`,
	`{"type":"passthrough_forward","forward":{"platform":"a"},"forward":{"path":"/b"}}`,
	`{"type":"passthrough_forward","forward":null}`,
	`{"type":"passthrough_forward","forward":"x","bufferId":"b1"}`,
	`{"type":"passthrough_forward","forward":[1],"bufferId":"b1"}`,
	`{"type":"inbound","forward":5,"event":{"text":"hi"}}`,
	`{"type":"passthrough_forward","forward":{"platform":null,"botId":12,"method":true,"path":{"a":1},"headers":null,"bodyB64":null,"profile":3}}`,
	`{"type":"passthrough_forward","forward":{"headers":[["a","b"]],"headers":[["c","d"]],"bodyB64":"YQ==","bodyB64":"Yg=="}}`,
	`{"type":"passthrough_forward","forward":{"path":"/\u00e9\ud83d\ude00","bodyB64":"ey\/J9"}}`,
	"{\"type\":\"passthrough_forward\",\"forward\":{\"path\":\"\xff\xfe\",\"bodyB64\":\"!!!not base64!!!\"}}",
	`{"type":"passthrough_forward","forward":{"path":"a` + "\x01" + `b"}}`,
	`{"type":"outbound_result","requestId":"3f2a","result":{"success":true,"message_id":"m1"}}`,
	`{"type":"outbound_result","requestId":12.5e-3,"result":{"success":1}}`,
	`{"type":"outbound_result","requestId":-0,"result":[]}`,
	`{"type":"descriptor","descriptor":{"contract_version":1,"platform":"discord","label":"D","max_message_length":2000,"supports_draft_streaming":false,"supports_edit":true,"supports_threads":true,"markdown_dialect":"discord","len_unit":"utf16"}}`,
	`{"type":"interrupt_inbound","session_key":"k","chat_id":5}`,
	`{"type":"going_idle_ack"}`,
	`{"type":"passthrough_forward","forward":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
	`{"type":"passthrough_forward","forward":{}} {}`,
	`{"type":"passthrough_forward","forward":{},}`,
	`{"type":01}`, `{"type":1.}`, `{"type":1e}`, `{"type":-}`, `{"type":"\x"}`, `{"type":"\u12"}`, `{"type":tru}`,
	`{"a":{"b":[1,2,{"c":null}],"d":"e"},"type":"passthrough_forward","forward":{"platform":"discord"}}`,
	`{"ſession_key":"k","type":"interrupt_inbound"}`,
	`{"type":"passthrough_forward","forward":{"bodyb64":"YQ=="}}`,
}

func TestFastPathAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range fastPathSeeds {
		checkFastPath(t, []byte(s))
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
		f.Add([]byte(s))
	}
	f.Add(benchForwardLine())
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastPath(t, data)
		// The fast path never changes what DecodeFrame returns for a line
		// it refuses, either: DecodeFrame is then the slow path itself.
		if strings.Count(string(data), "\n") == 0 {
			_, _ = DecodeFrame(data)
		}
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

// slowResult is parseResult without its fast path.
func slowResult(r json.RawMessage) OutboundResult {
	raw := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return OutboundResult{Error: "relay outbound_result carried a non-object result", Ambiguous: true}
	}
	var w struct {
		Success   json.RawMessage `json:"success"`
		MessageID json.RawMessage `json:"message_id"`
		Error     json.RawMessage `json:"error"`
		Code      json.RawMessage `json:"code"`
	}
	_ = json.Unmarshal(r, &w)
	return OutboundResult{Success: rawTruthy(w.Success), MessageID: rawString(w.MessageID),
		Error: rawString(w.Error), Code: rawString(w.Code), Raw: raw}
}

func checkResultFastPath(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := scanResult(data)
	if !ok {
		return
	}
	if !json.Valid(data) {
		t.Fatalf("fast path accepted invalid JSON %q", data)
	}
	// A trailing value after the object is refused by the decoder's
	// caller (frameFrom only ever passes one value), so compare what the
	// slow path makes of the same single object.
	if slow := slowResult(data); !reflect.DeepEqual(fast, slow) {
		t.Fatalf("result fast path disagrees on %q:\nfast %+v\nslow %+v", data, fast, slow)
	}
}

var resultSeeds = []string{
	`{"success":true,"message_id":"m-1"}`,
	` { "success" : 1 , "message_id" : 12345678901234567890 , "error" : null , "code" : "egress_declined" } `,
	`{"success":false,"error":"egress declined: x","extra":-1.5e3}`,
	`{"Success":true}`, `{"succes\u0073":true}`, `{"message_id":"\u00e9"}`, `{"success":"false"}`, `{"success":""}`,
	`{"success":0.0}`, `{"success":true,"success":false}`, `{"message_id":{"a":1}}`, `{"x":[1]}`, `{}`, `{"a":tru}`,
	`{"success":true}x`, "{\"message_id\":\"\xff\"}",
}

func TestResultFastPathAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range resultSeeds {
		checkResultFastPath(t, []byte(s))
	}
	if _, ok := scanResult([]byte(`{"success":true,"message_id":"m-1"}`)); !ok {
		t.Error("the fast path refused the usual result")
	}
}

func FuzzResultFastPath(f *testing.F) {
	for _, s := range resultSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkResultFastPath(t, data)
	})
}
