package convert

import (
	"reflect"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// typedCases are bodies whose shapes the typed path must get exactly right:
// repeated keys at every level, odd types where the rules expect others,
// escaped keys, number spellings, and the shapes where it must give up.
// decided says whether the typed path is expected to convert the body
// itself.
var typedCases = []struct {
	body    string
	decided bool
}{
	// Repeated keys: the last wins, and a repeated object replaces the
	// earlier one entirely.
	{`{"type":2,"data":{"name":"a","options":[{"type":3,"value":"x"}]},"data":{"name":"b"}}`, true},
	{`{"type":2,"member":{"nick":"n","user":{"id":"1"}},"member":{"user":{"id":"2"}},"guild_id":"g","data":{"name":"x"}}`, true},
	{`{"type":2,"user":{"id":"1","username":"a"},"user":"x","data":{"name":"x"}}`, true},
	{`{"type":2,"channel":{"type":11,"parent_id":"p"},"channel":{"type":0},"guild_id":"g","channel_id":"c","data":{"name":"x"}}`, true},
	{`{"type":3,"message":{"id":"m"},"message":[],"data":{"custom_id":"c"}}`, true},
	{`{"type":2,"id":"1","id":null,"data":{"name":"x","name":"y","type":2,"target_id":"t","target_id":"u"}}`, true},
	{`{"type":2,"data":{"name":"x","resolved":{"attachments":{"9":{"url":"u1","filename":"a"},"9":{"filename":"b"}}},"options":[{"type":11,"value":"9"}]}}`, true},
	{`{"type":2,"data":{"name":"x","resolved":{"attachments":{"9":{"url":"u1"}}},"resolved":{},"options":[{"type":11,"value":"9"}]}}`, true},
	{`{"type":2,"data":{"name":"x","options":[{"type":3,"value":"a","value":null},{"type":1,"type":3,"value":"v","name":"n"}]}}`, true},
	{`{"type":5,"data":{"components":[{"custom_id":"a","value":"1","custom_id":null},{"custom_id":"b","values":["x"],"values":null}]}}`, true},
	// Keys written with escapes are the same keys.
	{`{"typ\u0065":2,"d\u0061ta":{"n\u0061me":"esc\u00e9","options":[{"t\u0079pe":3,"value":"v\n"}]}}`, true},
	{`{"type":2,"\u0074oken":"t","data":{"name":"x"}}`, true},
	// Numbers and other types where the rules compare or render.
	{`{"type":2.0,"data":{"name":"x","type":3e0,"target_id":786008729715212338,"resolved":{"messages":{"786008729715212338":{"content":"c","author":{"username":"u"},"member":{"nick":0}}}}}}`, true},
	{`{"type":2,"data":{"name":12,"options":[{"type":4,"value":-0.0},{"type":10,"value":1E5},{"type":5,"value":false},{"type":2.0000000000000001,"name":true,"options":[{"value":"  "}]}]}}`, true},
	{`{"type":2,"guild_id":1e-400,"channel_id":0.0,"id":12345678901234567890,"data":{"name":"x"}}`, true},
	{`{"type":"2","data":{"name":"x"}}`, true},
	{`{"type":true,"data":"x"}`, true},
	{`{"type":3,"data":{"custom_id":"c","component_type":3,"values":[1,null,true,"a b"]}}`, true},
	{`{"type":3,"data":{"custom_id":false,"component_type":5.0,"values":[]}}`, true},
	{`{"type":3,"data":{"custom_id":"hp1:p:o\n","component_type":2,"values":["x"]},"message":{"id":5}}`, true},
	{`{"type":5,"data":{"custom_id":"m","components":[[{"custom_id":1,"value":true}],{"component":{"custom_id":"f","type":19,"values":"9"}},{"custom_id":"s","values":7}],"resolved":{"attachments":{"9":{"filename":" f.png ","url":"u","content_type":null}}}}}`, true},
	{`{"type":2,"member":{"user":{}},"user":{"id":"u","global_name":"g"},"guild_id":"g","data":{"name":"x"}}`, true},
	{`{"type":2,"member":{"user":0,"nick":"n"},"user":{"id":"u"},"guild_id":"g","data":{"name":"x"}}`, true},
	{`{"type":2,"member":{"user":"s"},"user":{"id":"u"},"data":{"name":"x"}}`, true},
	{`{"type":2,"member":[],"user":{"id":"u","username":"n"},"data":{"name":"///"}}`, true},
	{`{"type":2,"data":{"name":"x/","type":2,"target_id":" \u001c "}}`, true},
	// Found by FuzzTypedMatchesGeneric against mutants of the typed path: an
	// empty value between two parts, a select without a custom_id.
	{`{"type":2,"data":{"name":1,"options":[{"value":""},{"value":"0"}]}}`, true},
	{`{"type":2,"data":{"name":"x","options":[{"type":3,"value":" \t "},{"type":1,"name":"sub"},{"value":"v"}]}}`, true},
	{`{"type":3,"data":{"component_type":7,"values":[""]}}`, true},
	// Rejections decided by the typed path.
	{`{"type":2,"data":[1]}`, true},
	{`{"type":5,"data":0.5}`, true},
	{`{"type":4,"data":"x"}`, true},
	{`{"type":2,"data":{"name":"x"}} x`, true},
	{`{"type":2,"data":{"name":"x",}}`, true},
	{`{"type":2,"data":{"name":"\x"}}`, true},
	{`{"type":2,"data":{"name":"\ud800\u12"}}`, true},
	{`{"type":2,"data":{"name":NaN}}`, true},
	{`{"type":2,"x":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`, true},
	{`{"a":[` + strings.Repeat(`{"b":`, 40), true},
	{`{"type":2,"data":{"name":"x"`, true},
	{" \t\n", true},
	// Shapes the typed path leaves to the generic path.
	{`[{"type":2}]`, false},
	{`"x"`, false},
	{`{"type":2,"data":{"name":{"b":1,"a":[2]}}}`, false},
	{`{"type":2,"guild_id":["g"],"data":{"name":"x"}}`, false},
	{`{"type":2,"data":{"name":"x","options":[{"type":3,"value":{"k":"v"}}]}}`, false},
	{`{"type":3,"data":{"custom_id":"c","component_type":3,"values":[[1]]}}`, false},
	{`{"type":5,"data":{"components":[{"custom_id":"c","values":{"a":1}}]}}`, false},
}

// typedAndGeneric converts body on both paths.
func typedAndGeneric(body []byte) (typed, generic pluginapi.Result, dt, dg Details, decided bool) {
	f := pluginapi.Forward{Platform: "discord", Profile: "ops", Body: body}
	typed, dt, decided = convertTyped(f)
	generic, dg = convertGeneric(f)
	return typed, generic, dt, dg, decided
}

// checkSamePaths fails unless a decided typed conversion equals the generic
// one exactly: the same Go values (types included), not only the same JSON.
func checkSamePaths(t *testing.T, body []byte) (decided bool) {
	t.Helper()
	typed, generic, dt, dg, decided := typedAndGeneric(body)
	if !decided {
		return false
	}
	if !reflect.DeepEqual(typed, generic) || dt != dg {
		t.Fatalf("typed and generic paths differ for %q\n--- typed (%+v)\n%s\n--- generic (%+v)\n%s",
			body, dt, resultJSON(t, typed), dg, resultJSON(t, generic))
	}
	return true
}

func TestTypedMatchesGenericOnCases(t *testing.T) {
	for _, c := range typedCases {
		if got := checkSamePaths(t, []byte(c.body)); got != c.decided {
			_, generic, _, _, _ := typedAndGeneric([]byte(c.body))
			t.Errorf("typed path decided=%v, want %v, for %s (generic: %s %q)", got, c.decided, c.body, generic.Disposition, generic.Reason)
		}
	}
}

// TestTypedPathDecidesGoldens: every golden that is a JSON object (or is
// rejected before decoding) converts on the typed path, to exactly what the
// generic path gives.
func TestTypedPathDecidesGoldens(t *testing.T) {
	for _, g := range loadGoldens(t) {
		body := strings.TrimLeft(string(g.forward.Body), " \t\r\n")
		wantDecided := checkBody(g.forward.Body) != "" || strings.HasPrefix(body, "{")
		if got := checkSamePaths(t, g.forward.Body); got != wantDecided {
			t.Errorf("%s: typed path decided=%v, want %v", g.name, got, wantDecided)
		}
	}
}

// FuzzTypedMatchesGeneric checks the typed path against the generic path on
// arbitrary bodies: whenever the typed path decides, its result (events with
// every field, disposition, reason) and Details are exactly the generic
// path's. Seeds: every golden body, typedCases and the decoder cases. Run it
// with
//
//	go test ./plugins/discord/convert -run '^$' -fuzz FuzzTypedMatchesGeneric -fuzztime 10m
func FuzzTypedMatchesGeneric(f *testing.F) {
	for _, g := range loadGoldens(f) {
		f.Add(g.forward.Body)
	}
	for _, c := range typedCases {
		f.Add([]byte(c.body))
	}
	for _, c := range decoderCases {
		f.Add([]byte(`{"type":2,"data":{"name":` + c.in + `}}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSamePaths(t, body)
	})
}
