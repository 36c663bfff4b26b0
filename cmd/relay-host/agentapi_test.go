package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// TestAgentAPIEndpointsAndBadInput drives every endpoint of a real
// `relay-host run --agent-api` against the test connector, and every bad
// request of the agent contract: each refused with its status and a
// message naming the field, and nothing sent to the connector.
func TestAgentAPIEndpointsAndBadInput(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{args: []string{"--chat-memory", "2"}})

	status, st, _ := r.do(http.MethodGet, "/v1/status", "", nil, nil)
	descs, _ := st["descriptors"].(map[string]any)
	discord, _ := descs["discord"].(map[string]any)
	if status != 200 || st["state"] != "connected" || st["ready"] != true || discord["max_message_length"] != 2000.0 ||
		!strings.Contains(fmt.Sprint(discord["supported_ops"]), "prompt") || st["media"] != true {
		t.Fatalf("GET /v1/status = %d %v", status, st)
	}

	// Bad tokens: 401, and the log never shows the expected token.
	for name, auth := range map[string]string{"no token": "-", "wrong token": "Bearer " + r.token + "x",
		"another scheme": "Basic " + r.token, "empty bearer": "Bearer "} {
		status, m, h := r.do(http.MethodPost, "/v1/actions", auth, []byte(`{"op":"send","chat_id":"c","content":"x"}`), nil)
		if status != http.StatusUnauthorized || m["success"] != false || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %v, want 401", name, status, m)
		}
	}
	if err := r.p.stderr.waitFor(testCtx(t), "agent API request refused", 4); err != nil {
		t.Fatal(err)
	}

	before := len(r.srv.Outbounds())
	tooBig := `{"op":"send","chat_id":"c","content":"` + strings.Repeat("a", 1<<20) + `"}`
	bad := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"malformed JSON", "POST", "/v1/actions", `{"op":"send",`, 400, "body is not valid JSON"},
		{"not an object", "POST", "/v1/actions", `["send"]`, 400, "must be a JSON object"},
		{"no op", "POST", "/v1/actions", `{"chat_id":"c","content":"x"}`, 400, "op is required"},
		{"send without chat_id", "POST", "/v1/actions", `{"op":"send","content":"x"}`, 400, "send: chat_id is required"},
		{"invalid UTF-8 in content", "POST", "/v1/actions", "{\"op\":\"send\",\"chat_id\":\"c\",\"content\":\"a\xffb\"}", 400, "content: invalid UTF-8"},
		{"lone surrogate escape", "POST", "/v1/actions", `{"op":"send","chat_id":"c","content":"\ud800"}`, 400, "content: invalid UTF-8"},
		{"unknown op", "POST", "/v1/actions", `{"op":"teleport","chat_id":"c"}`, 400, `op: unknown op "teleport"`},
		{"prompt option without id", "POST", "/v1/actions", `{"op":"prompt","chat_id":"c","content":"?","options":[{"label":"x"}]}`, 400, "options[0].id is required"},
		{"a platform not fronted", "POST", "/v1/actions", `{"op":"send","chat_id":"c","content":"x","platform":"slack"}`, 400, "platform:"},
		{"oversized body", "POST", "/v1/actions", tooBig, 413, "over the 1048576-byte limit"},
		{"reply without content", "POST", "/v1/reply", `{"event_id":"x/0"}`, 400, "reply: content is required"},
		{"reply to an unknown event", "POST", "/v1/reply", `{"event_id":"nope/0","content":"x"}`, 404, "unknown event_id"},
		{"interrupt without session_key", "POST", "/v1/interrupt", `{"reason":"x"}`, 400, "interrupt: session_key is required"},
		{"unknown endpoint", "POST", "/v1/teleport", `{}`, 404, "no such endpoint"},
		{"wrong method", "GET", "/v1/actions", ``, 405, "takes POST"},
		{"media without url", "GET", "/v1/media", ``, 400, "url is required"},
	}
	for _, b := range bad {
		status, m, _ := r.do(b.method, b.path, "", []byte(b.body), nil)
		if status != b.status || m["success"] != false || !strings.Contains(fmt.Sprint(m["error"]), b.want) {
			t.Errorf("%s: %d %v, want %d with an error containing %q", b.name, status, m, b.status, b.want)
		}
	}
	if n := len(r.srv.Outbounds()); n != before {
		t.Fatalf("%d frames reached the connector from refused requests", n-before)
	}

	// A send: the connector's result, verbatim.
	status, m := r.post("/v1/actions", `{"op":"send","chat_id":"chat-1","content":"hello","extra_key":"kept"}`)
	if status != 200 || m["success"] != true || !strings.HasPrefix(fmt.Sprint(m["message_id"]), "m-") {
		t.Fatalf("send = %d %v", status, m)
	}
	o, _ := r.waitOutbound(before, "send", func(o relaytest.OutboundFrame) bool { return o.Op() == "send" })
	if o.Action["chat_id"] != "chat-1" || o.Action["extra_key"] != "kept" || o.Action["reply_to"] != nil || o.Platform != "" {
		t.Errorf("send frame = %+v", o)
	}
	if _, has := o.Action["reply_to"]; !has {
		t.Errorf("send frame without reply_to: %v", o.Action)
	}

	// Interrupt: an interrupt frame for the session.
	if status, m := r.post("/v1/interrupt", `{"session_key":"agent:main:discord:dm:x","reason":"user asked"}`); status != 200 || m["success"] != true {
		t.Fatalf("interrupt = %d %v", status, m)
	}
	if f, err := r.srv.WaitFrame(testCtx(t), func(f relaytest.Frame) bool { return f.Type == "interrupt" }); err != nil ||
		f.SessionKey != "agent:main:discord:dm:x" || f.Reason == nil || *f.Reason != "user asked" {
		t.Fatalf("interrupt frame = %+v (%v)", f, err)
	}

	// An inbound event: the agent gets event_id and destination, and
	// POST /v1/reply answers it by event_id and by session_key.
	id, err := r.srv.EnqueueInbound(inboundEvent("discord", "chat-r", "msg-r", "hello agent"))
	if err != nil {
		t.Fatal(err)
	}
	ev := r.agent.waitEvent(t, "the inbound event", func(ev map[string]any) bool { return ev["text"] == "hello agent" })
	dst, _ := ev["destination"].(map[string]any)
	if ev["event_id"] != id+"/0" || dst["max_message_length"] != 2000.0 || dst["len_unit"] != "chars" ||
		dst["markdown_dialect"] != "discord" || dst["supports_edit"] != true || !strings.Contains(fmt.Sprint(dst["supported_ops"]), "react") {
		t.Fatalf("event = %v", ev)
	}
	if err := r.srv.WaitAcked(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	from := len(r.srv.Outbounds())
	status, m = r.post("/v1/reply", `{"event_id":"`+id+`/0","content":"answered later"}`)
	if status != 200 || m["success"] != true {
		t.Fatalf("reply = %d %v", status, m)
	}
	o, _ = r.waitOutbound(from, "the reply", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "answered later" })
	if o.Op() != "send" || o.Action["chat_id"] != "chat-r" || o.Platform != "discord" || o.BotID != "bot-1" {
		t.Fatalf("reply frame = %+v", o)
	}
	if status, m := r.post("/v1/reply", `{"session_key":"`+fmt.Sprint(ev["session_key"])+`","content":"by session"}`); status != 200 || m["success"] != true {
		t.Fatalf("reply by session key = %d %v", status, m)
	}

	// --chat-memory 2: two more chats, and the first is forgotten.
	for _, chat := range []string{"chat-2", "chat-3"} {
		id, _ := r.srv.EnqueueInbound(inboundEvent("discord", chat, "m-"+chat, "hi "+chat))
		if err := r.srv.WaitAcked(testCtx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	if _, st, _ := r.do(http.MethodGet, "/v1/status", "", nil, nil); st["chats_remembered"] != 2.0 {
		t.Errorf("chats remembered = %v, want --chat-memory's 2", st["chats_remembered"])
	}
	from = len(r.srv.Outbounds())
	r.post("/v1/actions", `{"op":"send","chat_id":"chat-r","content":"forgotten chat"}`)
	if o, _ := r.waitOutbound(from, "a send to the forgotten chat", func(o relaytest.OutboundFrame) bool {
		return o.Action["content"] == "forgotten chat"
	}); o.Platform != "" || fmt.Sprint(o.Action["metadata"]) != "map[]" {
		t.Errorf("a send to a chat no longer remembered = %+v, want it untagged", o)
	}
}

// TestAgentAPILinkDownAndAmbiguous checks the two faults of the link: an
// action whose frame went out and whose result never came is answered
// ambiguous, and while the link is down every action is refused 503 at
// once, with nothing queued.
func TestAgentAPILinkDownAndAmbiguous(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{connector: relaytest.Options{Outbound: func(o relaytest.OutboundFrame) relaytest.OutboundReply {
		return relaytest.OutboundReply{Never: o.Action["content"] == "never answered"}
	}}})
	type answer struct {
		status int
		m      map[string]any
	}
	pending := make(chan answer, 1)
	go func() {
		status, m := r.post("/v1/actions", `{"op":"send","chat_id":"c","content":"never answered"}`)
		pending <- answer{status, m}
	}()
	r.waitOutbound(0, "the unanswered send", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "never answered" })
	// Keep the link down: every later connection is closed at once.
	plans := make([]relaytest.Plan, 100)
	for i := range plans {
		plans[i] = relaytest.Plan{CloseAtAccept: true}
	}
	r.srv.PlanNext(plans...)
	if err := r.srv.CloseConn(1011, "test: link down"); err != nil {
		t.Fatal(err)
	}
	a := <-pending
	if a.status != http.StatusBadGateway || a.m["ambiguous"] != true || a.m["success"] != false {
		t.Fatalf("the send whose result never came = %d %v, want 502 ambiguous", a.status, a.m)
	}
	if err := r.p.stderr.waitFor(testCtx(t), "relay disconnected", 1); err != nil {
		t.Fatal(err)
	}
	before := len(r.srv.Outbounds())
	for _, c := range []struct{ path, body string }{
		{"/v1/actions", `{"op":"send","chat_id":"c","content":"while down"}`},
		{"/v1/reply", `{"session_key":"k","content":"x"}`},
		{"/v1/interrupt", `{"session_key":"k"}`},
	} {
		t0 := time.Now()
		status, m := r.post(c.path, c.body)
		took := since(t0)
		if c.path == "/v1/reply" {
			if status != http.StatusNotFound { // no such session: nothing to send either way
				t.Errorf("%s while down = %d %v", c.path, status, m)
			}
			continue
		}
		if status != http.StatusServiceUnavailable || m["error"] != "relay transport not connected" {
			t.Errorf("%s while down = %d %v, want 503 relay transport not connected", c.path, status, m)
		}
		if took > time.Second {
			t.Errorf("%s while down took %s, want under a second (no queueing)", c.path, took)
		}
	}
	status, st, _ := r.do(http.MethodGet, "/v1/status", "", nil, nil)
	if status != 200 || st["ready"] != false {
		t.Errorf("status while down = %d %v", status, st)
	}
	if n := len(r.srv.Outbounds()); n != before {
		t.Errorf("%d frames sent while the link was down", n-before)
	}
}

// TestAgentAPIEnrichmentGatingSplitting checks what the agent API adds to
// an action (the chat's tenant facts, its platform and bot), what it keeps
// from the connector (ops the platform does not take), and how long text
// goes out (the echo agent's reply too).
func TestAgentAPIEnrichmentGatingSplitting(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{echo: true, args: []string{"--reactions=false"}})
	ctx := testCtx(t)

	// Enrichment: the chat's last event gives platform, bot and metadata.
	id, _ := r.srv.EnqueueInbound(inboundEvent("discord", "chat-e", "m-e", "hi"))
	if err := r.srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	echo, _ := r.waitOutbound(0, "the echo", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "echo: hi" })
	if echo.Platform != "discord" || fmt.Sprint(echo.Action["metadata"]) != "map[profile:p-chat-e scope_id:g-chat-e user_id:u-chat-e]" {
		t.Fatalf("echo reply = %+v", echo)
	}
	from := len(r.srv.Outbounds())
	r.post("/v1/actions", `{"op":"send","chat_id":"chat-e","content":"enriched"}`)
	r.post("/v1/actions", `{"op":"send","chat_id":"chat-e","content":"kept","metadata":{"scope_id":"mine"}}`)
	r.post("/v1/actions", `{"op":"send","chat_id":"never-seen","content":"untagged"}`)
	status, info := r.post("/v1/actions", `{"op":"get_chat_info","chat_id":"chat-e"}`)
	frames := map[string]relaytest.OutboundFrame{}
	for range 4 {
		o, i := r.waitOutbound(from, "an action", func(relaytest.OutboundFrame) bool { return true })
		from = i + 1
		key, _ := o.Action["content"].(string)
		if key == "" {
			key = o.Op()
		}
		frames[key] = o
	}
	if o := frames["enriched"]; o.Platform != "discord" || o.BotID != "bot-1" ||
		fmt.Sprint(o.Action["metadata"]) != "map[profile:p-chat-e scope_id:g-chat-e user_id:u-chat-e]" {
		t.Errorf("enriched send = %+v", o)
	}
	if o := frames["kept"]; fmt.Sprint(o.Action["metadata"]) != "map[profile:p-chat-e scope_id:mine user_id:u-chat-e]" {
		t.Errorf("a scope_id the agent set was not kept: %+v", o)
	}
	if o := frames["untagged"]; o.Platform != "" || fmt.Sprint(o.Action["metadata"]) != "map[]" {
		t.Errorf("a send to a chat never seen = %+v, want untagged with empty metadata", o)
	}
	if o := frames["get_chat_info"]; o.Platform != "" || o.Action["metadata"] != nil || status != 200 || info["name"] != "chat-e" {
		t.Errorf("get_chat_info = %+v, answered %d %v; want untagged, without metadata", o, status, info)
	}

	// Gating: an SMS chat takes no reactions, no typing, no edits.
	sms, _ := r.srv.EnqueueInbound(inboundEvent("twilio", "+15550001", "SM1", "txt"))
	if err := r.srv.WaitAcked(ctx, sms); err != nil {
		t.Fatal(err)
	}
	before := len(r.srv.Outbounds())
	r.waitOutbound(before-1, "the SMS echo", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "echo: txt" })
	before = len(r.srv.Outbounds())
	status, m := r.post("/v1/actions", `{"op":"react","chat_id":"+15550001","message_id":"SM1","emoji":"👍"}`)
	if status != http.StatusConflict || m["code"] != "unsupported_op" || m["error"] != "react is not supported by twilio" {
		t.Errorf("react on SMS = %d %v, want 409 unsupported_op", status, m)
	}
	if status, m := r.post("/v1/actions", `{"op":"typing","chat_id":"+15550001"}`); status != 200 || m["success"] != true {
		t.Errorf("typing on SMS = %d %v, want a silent success", status, m)
	}
	if status, m := r.post("/v1/actions", `{"op":"edit","chat_id":"+15550001","message_id":"x","content":"y"}`); status != http.StatusConflict {
		t.Errorf("edit on SMS = %d %v, want 409", status, m)
	}
	if n := len(r.srv.Outbounds()); n != before {
		t.Fatalf("%d frames sent for ops the platform does not take", n-before)
	}

	// Splitting: the echo agent's reply to a long message goes out in
	// parts that each fit, and join back to the reply.
	para := strings.Repeat("The relay carries every action an agent takes. ", 20) // 960 chars
	long := para + "\n\n" + para + " 👋🏽 " + "\n\n" + para
	splitID, _ := r.srv.EnqueueInbound(inboundEvent("discord", "chat-long", "m-long", long))
	if err := r.srv.WaitAcked(ctx, splitID); err != nil {
		t.Fatal(err)
	}
	r.checkParts(t, "chat-long", "echo: "+long, 2000, agentapi.UnitChars, true)
	// UTF-16: an SMS of 900 emoji is 1,800 code units, over Twilio's 1,600.
	emoji := strings.Repeat("😀", 900)
	smsLong, _ := r.srv.EnqueueInbound(inboundEvent("twilio", "+15550002", "SM2", emoji))
	if err := r.srv.WaitAcked(ctx, smsLong); err != nil {
		t.Fatal(err)
	}
	r.checkParts(t, "+15550002", "echo: "+emoji, 1600, agentapi.UnitUTF16, false)
}

// checkParts checks that the reply text went to chat as the parts the
// splitter makes for the destination's limit, each within it, in order,
// the later ones with reply_to null.
func (r *apiRig) checkParts(t *testing.T, chat, text string, limit int, unit string, fences bool) {
	t.Helper()
	want := agentapi.Split(text, limit, unit, fences)
	if len(want) < 2 {
		t.Fatalf("the test's text fits in one message of %d %s", limit, unit)
	}
	parts := r.waitParts(t, chat, len(want))
	for i, p := range parts {
		c, _ := p.Action["content"].(string)
		n := utf8.RuneCountInString(c)
		if unit == agentapi.UnitUTF16 {
			n = len(utf16.Encode([]rune(c)))
		}
		if c != want[i] || n > limit || !utf8.ValidString(c) {
			t.Errorf("part %d of %d to %s: %d %s, want the splitter's part (%d units at most)", i+1, len(want), chat, n, unit, limit)
		}
		if _, has := p.Action["reply_to"]; !has || p.Action["reply_to"] != nil {
			t.Errorf("part %d: reply_to %v, want null", i+1, p.Action["reply_to"])
		}
	}
	if strings.Join(want, "") != text {
		t.Fatal("the splitter's parts do not join back to the reply")
	}
}

// waitParts waits until the connector has n sends to chat and returns them
// in order.
func (r *apiRig) waitParts(t *testing.T, chat string, n int) []relaytest.OutboundFrame {
	t.Helper()
	var out []relaytest.OutboundFrame
	from := 0
	for len(out) < n {
		o, i := r.waitOutbound(from, fmt.Sprintf("part %d to %s", len(out)+1, chat), func(o relaytest.OutboundFrame) bool {
			return o.Op() == "send" && o.Action["chat_id"] == chat
		})
		out = append(out, o)
		from = i + 1
	}
	return out
}

// TestRunAgentAPIConfiguration checks run's refusals: no API without a
// token, a bad --chat-memory, an address in use; and the unix socket mode.
func TestRunAgentAPIConfiguration(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	secret, plugins := secretFile(t), pluginsDir(t, false)
	busy := freeAddr(t)
	ln, err := net.Listen("tcp", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no token", nil, []string{"--agent-api", "127.0.0.1:0"}, "--agent-api needs a token: pass --agent-api-token-file PATH"},
		{"empty token file", nil, []string{"--agent-api", "127.0.0.1:0", "--agent-api-token-file", "/dev/null"}, "is empty"},
		{"bad chat memory", nil, []string{"--chat-memory", "0"}, "--chat-memory 0"},
		{"bad typing twin", []string{"RELAY_TYPING=maybe"}, nil, "$RELAY_TYPING"},
		{"address in use", nil, []string{"--agent-api", busy, "--agent-api-token-file", tokenFile}, "is already in use"},
		{"socket directory missing", []string{"RELAY_AGENT_API_TOKEN=t0ken"}, []string{"--agent-api", "unix:/nonexistent/dir/a.sock"}, "the socket's directory does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.env, runArgs(srv, secret, plugins, c.args...)...)
			if code := p.wait(t); code != exitFailure || !strings.Contains(p.stderr.String(), c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 mentioning %q", code, p.stderr.String(), c.want)
			}
		})
	}

	// A unix socket, mode 0600, serving GET /v1/status; the token from
	// the environment.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	p := start(t, []string{"RELAY_AGENT_API_TOKEN=env-token"}, runArgs(srv, secret, plugins, "--agent-api", "unix:"+sock)...)
	if err := p.stderr.waitFor(testCtx(t), "relay connected", 1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %s: %v, %v; want a socket with mode 0600", sock, fi.Mode(), err)
	}
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, "http://agent-api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer env-token")
	resp, err := unixClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/status over the socket = %d", resp.StatusCode)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left behind after a clean exit: %v", err)
	}
	if strings.Contains(p.stderr.String(), "env-token") {
		t.Error("the log shows the token")
	}
}
