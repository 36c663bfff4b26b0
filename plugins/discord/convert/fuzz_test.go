package convert

import (
	"bytes"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// FuzzConvert feeds arbitrary bodies to Convert. Seeds: every golden body
// (added here and checked in under testdata/fuzz/FuzzConvert, rewritten by
// -update) plus any finding kept there. Run it with
//
//	go test ./plugins/discord/convert -run '^$' -fuzz FuzzConvert -fuzztime 10m
//
// It asserts, for every input: no panic; a valid disposition; events only
// when handled; parallel media lists; a session key on every event; no output
// that depends on a top-level token (see checkInvariants); and determinism.
func FuzzConvert(f *testing.F) {
	for _, g := range loadGoldens(f) {
		f.Add(g.forward.Body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fw := pluginapi.Forward{Platform: "discord", Profile: "ops", Body: body}
		res, d := ConvertDetailed(fw)
		checkInvariants(t, body, res)
		if d.TokenStripped {
			if _, ok := topLevelToken(body); !ok {
				t.Fatalf("TokenStripped for a body without a top-level token")
			}
		}
		again := Convert(fw)
		if !bytes.Equal(resultJSON(t, res), resultJSON(t, again)) {
			t.Fatalf("two conversions of one body differ")
		}
	})
}
