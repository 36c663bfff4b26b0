package main

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// FuzzConvert feeds arbitrary signed bodies to the converter: it must never
// panic, and every result must keep the SDK's invariants.
func FuzzConvert(f *testing.F) {
	for _, name := range []string{"issue_comment-created.json", "issues-opened.json", "ping.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add("issue_comment", b)
		f.Add("issues", b)
	}
	c := &config{webhookSecret: []byte(testSecret), settings: settings{BotLogin: "relay-bot"}}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		if !utf8.ValidString(event) {
			return
		}
		fw := delivery(event, body, sign(testSecret, body))
		res := convert(c, fw)
		if p := plugintest.Problems(res, fw); len(p) > 0 {
			t.Fatalf("%v", p)
		}
		if res.Disposition == pluginapi.Handled && len(res.Events) != 1 {
			t.Fatalf("handled with %d events", len(res.Events))
		}
	})
}
