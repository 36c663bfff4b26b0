package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestConvertTwilioIsDroppedWithAReason(t *testing.T) {
	t.Parallel()
	body := filepath.Join(t.TempDir(), "sms.txt")
	form := "ToCountry=US&SmsMessageSid=SM1234&NumMedia=0&Body=meet+me+at+noon&MessageSid=SM1234&AccountSid=AC1&From=%2B14155550100&To=%2B15005550006&ApiVersion=2010-04-01"
	if err := os.WriteFile(body, []byte(form), 0o644); err != nil {
		t.Fatal(err)
	}
	r := relayHost(t, "", "convert", "--platform", "twilio", "--plugins-dir", bins.plugins, body)
	var out struct {
		Disposition string            `json:"disposition"`
		Reason      string            `json:"reason"`
		Events      []json.RawMessage `json:"events"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	if out.Disposition != "dropped" || !strings.Contains(out.Reason, "not implemented") || len(out.Events) != 0 {
		t.Errorf("result = %+v", out)
	}
	if !strings.Contains(r.stderr, "message_sid=SM1234") {
		t.Errorf("the stub did not log the MessageSid:\n%s", r.stderr)
	}
	for _, private := range []string{"meet", "4155550100", "5005550006"} {
		if strings.Contains(r.stderr, private) {
			t.Errorf("the log contains %q (a phone number or the message body):\n%s", private, r.stderr)
		}
	}
}

func TestConvertDiscordGoldensThroughTheCLI(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ golden, profile string }{
		{"slash_command_docs_cardsearch", ""},
		{"button_hp1_prompt_valid", "main"},
		{"modal_label_text_input_docs", ""},
		{"ping_interactions_js", ""},
		{"rejected_invalid_utf8_docs", ""},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			dir := "../../plugins/discord/convert/testdata/golden/"
			args := []string{"convert", "--platform", "discord", "--plugins-dir", bins.plugins, dir + tt.golden + ".json"}
			if tt.profile != "" {
				args = append(args, "--profile", tt.profile)
			}
			r := relayHost(t, "", args...)
			want, err := os.ReadFile(dir + tt.golden + ".want.json")
			if err != nil {
				t.Fatal(err)
			}
			if r.code != 0 || !sameJSON(t, []byte(r.stdout), want) {
				t.Errorf("exit %d\n got %s\nwant %s\nstderr %s", r.code, r.stdout, want, r.stderr)
			}
		})
	}
}

func TestConvertReadsStandardInput(t *testing.T) {
	t.Parallel()
	r := relayHost(t, `{"type":2,"id":"1","channel_id":"c","user":{"id":"u","username":"x"},"data":{"name":"ask"}}`,
		"convert", "--platform", "discord", "--plugins-dir", bins.plugins, "-")
	if r.code != 0 || !strings.Contains(r.stdout, `"text": "/ask"`) || !strings.Contains(r.stdout, `"session_key": "agent:main:discord:dm:c"`) {
		t.Errorf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestConvertErrors(t *testing.T) {
	t.Parallel()
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(t.TempDir(), "ok.json")
	if err := os.WriteFile(ok, []byte(`{"type":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing platform", []string{"convert", ok}, exitUsage, "--platform is required"},
		{"missing file argument", []string{"convert", "--platform", "discord"}, exitUsage, "want exactly one FILE"},
		{"body file does not exist", []string{"convert", "--platform", "discord", "--plugins-dir", bins.plugins, "/nonexistent.json"}, exitFailure, "does not exist"},
		{"unknown platform", []string{"convert", "--platform", "telegram", "--plugins-dir", bins.plugins, ok}, exitFailure, "serve discord, twilio"},
		{"body over the limit", []string{"convert", "--platform", "discord", "--plugins-dir", bins.plugins, big}, exitFailure, "over the 1048576-byte limit"},
		{"plugins dir does not exist", []string{"convert", "--platform", "discord", "--plugins-dir", "/nonexistent", ok}, exitFailure, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := relayHost(t, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d stderr:\n%s\nwant exit %d mentioning %q", r.code, r.stderr, tt.code, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q on error, want nothing", r.stdout)
			}
		})
	}
}

func TestPluginsListAndPin(t *testing.T) {
	t.Parallel()
	dir := pluginsDir(t, false)
	r := relayHost(t, "", "plugins", "list", "--plugins-dir", dir)
	hash := regexp.MustCompile(`[0-9a-f]{64}`)
	for _, name := range []string{"discord", "twilio"} {
		line := lineWith(r.stdout, "relay-plugin-"+name)
		if r.code != 0 || !strings.HasPrefix(line, name+" ") || !strings.Contains(line, " "+name+" ") || !hash.MatchString(line) || !strings.Contains(line, " no ") {
			t.Fatalf("plugins list (exit %d):\n%s", r.code, r.stdout)
		}
	}
	if r := relayHost(t, "", "plugins", "pin", "--plugins-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "plugins.sha256") {
		t.Fatalf("plugins pin (exit %d): %s %s", r.code, r.stdout, r.stderr)
	}
	if r := relayHost(t, "", "plugins", "list", "--plugins-dir", dir); r.code != 0 || strings.Count(r.stdout, " yes ") != 2 {
		t.Fatalf("after pin, list:\n%s", r.stdout)
	}
	// Replace the discord plugin with another build: it is refused.
	copyFile(t, bins.testPlugin, filepath.Join(dir, "relay-plugin-discord"))
	r = relayHost(t, "", "plugins", "list", "--plugins-dir", dir)
	if r.code != exitFailure || !strings.Contains(r.stdout, "REFUSED") || !strings.Contains(r.stderr, "relay-plugin-discord was refused") {
		t.Errorf("tampered plugin: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = relayHost(t, "", "convert", "--platform", "discord", "--plugins-dir", dir, "-")
	if r.code != exitFailure || !strings.Contains(r.stderr, "its sha256 is") {
		t.Errorf("convert with a tampered plugin: exit %d %s", r.code, r.stderr)
	}
	// The other plugins are not held hostage by the refused one.
	r = relayHost(t, "MessageSid=SM1&Body=hi", "convert", "--platform", "twilio", "--plugins-dir", dir, "-")
	if r.code != 0 || !strings.Contains(r.stdout, `"disposition"`) {
		t.Errorf("convert for a platform whose plugin is fine: exit %d %s", r.code, r.stderr)
	}
}

func TestHelpExplainsEveryCommand(t *testing.T) {
	t.Parallel()
	r := relayHost(t, "", "--help")
	if r.code != 0 {
		t.Fatalf("--help exit %d", r.code)
	}
	for _, c := range commands() {
		if !strings.Contains(r.stdout, c.name) {
			t.Errorf("--help does not list %s", c.name)
		}
		h := relayHost(t, "", c.name, "--help")
		if h.code != 0 || !strings.Contains(h.stdout, "Usage: relay-host "+c.name) {
			t.Errorf("%s --help: exit %d\n%s%s", c.name, h.code, h.stdout, h.stderr)
		}
	}
	run := relayHost(t, "", "run", "--help")
	for _, flag := range []string{"--connector", "--gateway-id", "--secret-file", "--identity", "--plugins-dir", "--agent", "--agent-url", "--listen", "$RELAY_CONNECTOR_URL", "$RELAY_IDENTITIES"} {
		if !strings.Contains(run.stdout, flag) {
			t.Errorf("run --help does not explain %s", flag)
		}
	}
	if r := relayHost(t, "", "frobnicate"); r.code != exitUsage || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("unknown command: exit %d %s", r.code, r.stderr)
	}
	if r := relayHost(t, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "relay-host ") {
		t.Errorf("version: exit %d %q", r.code, r.stdout)
	}
}

func lineWith(out, substr string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// sameJSON compares two JSON documents by value, numbers as written.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	norm := func(x []byte) string {
		d := json.NewDecoder(strings.NewReader(string(x)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return "invalid JSON: " + string(x)
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}
