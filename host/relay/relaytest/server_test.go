package relaytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "s3cret"

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startServer(t *testing.T, opts relaytest.Options) *relaytest.Server {
	t.Helper()
	s := relaytest.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client is a bare WebSocket peer standing in for the gateway.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, s *relaytest.Server, path, token string) (*client, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	url := strings.Replace(s.URL(), "http://", "ws://", 1) + path
	ws, resp, err := websocket.Dial(ctxT(t), url, &websocket.DialOptions{HTTPHeader: h, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(wire.MaxMessageBytes)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}, resp, nil
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.Write(ctxT(c.t), websocket.MessageText, []byte(s+"\n")); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one message and decodes it as one frame.
func (c *client) next() wire.Frame {
	c.t.Helper()
	_, b, err := c.ws.Read(ctxT(c.t))
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if bytes.Count(b, []byte{'\n'}) != 1 || b[len(b)-1] != '\n' {
		c.t.Fatalf("message %q is not one newline-terminated frame", b)
	}
	f, err := wire.DecodeFrame(b)
	if err != nil {
		c.t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

func TestUpgradeOnlyAtRelayAndExtraRoutes(t *testing.T) {
	s := startServer(t, relaytest.Options{})
	s.HandleFunc("GET /interactions/discord/{app}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.PathValue("app"))
	})
	_, resp, err := dial(t, s, "/elsewhere", "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upgrade at /elsewhere: err %v, resp %v; want HTTP 400", err, resp)
	}
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	r, err := cl.Get(s.URL() + "/interactions/discord/app1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || string(body) != "ok app1" {
		t.Fatalf("extra route: %d %q", r.StatusCode, body)
	}
	r, err = cl.Get(s.URL() + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d, want 404", r.StatusCode)
	}
}

func TestBadBearerIsClosed4401(t *testing.T) {
	s := startServer(t, relaytest.Options{GatewayID: "gw-1", Secrets: []string{secret}})
	for name, tok := range map[string]string{
		"missing":     "",
		"wrong key":   relay.MakeUpgradeToken("gw-1", "other", time.Now()),
		"wrong id":    relay.MakeUpgradeToken("gw-2", secret, time.Now()),
		"expired":     relay.MakeToken("gw-1", secret, 1),
		"not a token": "garbage",
	} {
		t.Run(name, func(t *testing.T) {
			c, _, err := dial(t, s, relaytest.RelayPath, tok)
			if err != nil {
				t.Fatalf("the upgrade must be accepted, then closed: %v", err)
			}
			_, _, err = c.ws.Read(ctxT(t))
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != relay.UnauthorizedCloseCode || ce.Reason != "unauthorized" {
				t.Fatalf("read error = %v, want close 4401 unauthorized", err)
			}
		})
	}
	if s.AuthFailures() != 5 {
		t.Fatalf("auth failures = %d", s.AuthFailures())
	}
}

func TestHandshakeOutboundIdleAndBuffer(t *testing.T) {
	seen := make(chan relaytest.OutboundFrame, 8)
	s := startServer(t, relaytest.Options{GatewayID: "gw-1", Secrets: []string{"new", secret},
		OnOutbound: func(o relaytest.OutboundFrame) { seen <- o }})
	early := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/early", Body: []byte{0, 1, 2}})
	c, _, err := dial(t, s, relaytest.RelayPath, relay.MakeUpgradeToken("gw-1", secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"hello","platform":"discord","botId":"123"}`)
	f := c.next()
	if f.Type != wire.TypeDescriptor || f.Descriptor.Platform != "discord" || f.Descriptor.MaxMessageLength != 2000 {
		t.Fatalf("first frame = %+v, want the discord descriptor", f)
	}
	f = c.next() // the backlog follows the handshake
	if f.Type != wire.TypePassthroughForward || f.Forward.BufferID != early || !bytes.Equal(f.Forward.Body, []byte{0, 1, 2}) {
		t.Fatalf("replayed = %+v", f.Forward)
	}
	c.send(`{"type":"hello","platform":"telegram","botId":""}`)
	if f = c.next(); f.Descriptor == nil || f.Descriptor.Platform != "telegram" || f.Descriptor.Label == "" {
		t.Fatalf("second descriptor = %+v", f)
	}
	c.send(`{"type":"outbound","requestId":"r1","action":{"op":"send","chat_id":"c"},"platform":"discord","botId":"123"}`)
	if f = c.next(); f.Result == nil || f.Result.RequestID != "r1" || !f.Result.Result.Success || f.Result.Result.MessageID != "m-1" {
		t.Fatalf("outbound_result = %+v", f.Result)
	}
	if o := <-seen; o.Op() != "send" || o.Platform != "discord" || o.BotID != "123" || len(seen) != 0 {
		t.Fatalf("OnOutbound saw %+v", o)
	}
	c.send(`{"type":"inbound_ack","bufferId":"` + early + `"}`)
	if err := s.WaitAcked(ctxT(t), early); err != nil {
		t.Fatal(err)
	}
	live := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/live"})
	if f = c.next(); f.Forward == nil || f.Forward.BufferID != live {
		t.Fatalf("enqueued while connected = %+v", f)
	}
	c.send(`{"type":"going_idle"}`)
	if f = c.next(); f.Type != wire.TypeGoingIdleAck {
		t.Fatalf("going_idle answer = %+v", f)
	}
	if !reflect.DeepEqual(s.Pending(), []string{live}) {
		t.Fatalf("pending = %q", s.Pending())
	}
	// Buffered-only after the flip: a new item waits for the next handshake.
	held := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/held"})
	c.send(`{"type":"interrupt","session_key":"k","reason":null}`)
	fr, err := s.WaitFrame(ctxT(t), func(f relaytest.Frame) bool { return f.Type == "interrupt" })
	if err != nil || fr.SessionKey != "k" || fr.Reason != nil {
		t.Fatalf("interrupt frame = %+v (%v)", fr, err)
	}
	if err := c.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	if info, err := s.WaitClosed(ctxT(t), 1); err != nil || info.Code != 1000 || info.Reason != "bye" {
		t.Fatalf("close info = %+v (%v)", info, err)
	}
	c2, _, err := dial(t, s, relaytest.RelayPath, relay.MakeUpgradeToken("gw-1", secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	c2.send(`{"type":"hello","platform":"discord","botId":"123"}`)
	c2.next() // descriptor
	if a, b := c2.next(), c2.next(); a.Forward.BufferID != live || b.Forward.BufferID != held {
		t.Fatalf("redelivery order = %s, %s; want %s, %s", a.Forward.BufferID, b.Forward.BufferID, live, held)
	}
	if s.Dials() != 2 {
		t.Fatalf("dials = %d", s.Dials())
	}
}

func TestPassthroughFrameRoundTrip(t *testing.T) {
	in := pluginapi.Forward{Platform: "discord", BotID: "app", Method: "POST", Path: "/i",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}, {Name: "x", Value: "1"}, {Name: "x", Value: "2"}},
		Body:    []byte("{\"type\":1}\x00\xff"), Profile: "reviewer", BufferID: "pbuf-1"}
	f, err := wire.DecodeFrame(relaytest.PassthroughFrame(in))
	if err != nil || !reflect.DeepEqual(*f.Forward, in) {
		t.Fatalf("round trip = %+v (%v)\nwant %+v", f.Forward, err, in)
	}
}

func TestDefaultDescriptorHasTheNineRequiredFields(t *testing.T) {
	b, _ := json.Marshal(relaytest.DefaultDescriptor("telegram"))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"contract_version", "platform", "label", "max_message_length", "supports_draft_streaming",
		"supports_edit", "supports_threads", "markdown_dialect", "len_unit"} {
		if _, ok := m[k]; !ok {
			t.Errorf("descriptor lacks %s", k)
		}
	}
	if _, err := wire.ParseDescriptor(b); err != nil {
		t.Fatal(err)
	}
}

func TestWaitsAndLifecycle(t *testing.T) {
	s := startServer(t, relaytest.Options{})
	if err := s.Start(); err == nil {
		t.Fatalf("a second Start must fail")
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFrame(short, func(relaytest.Frame) bool { return true }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFrame on nothing = %v", err)
	}
	if err := s.SendRaw("x"); !errors.Is(err, relaytest.ErrNoConnection) {
		t.Fatalf("SendRaw without a connection = %v", err)
	}
	if err := s.CloseConn(1000, ""); !errors.Is(err, relaytest.ErrNoConnection) {
		t.Fatalf("CloseConn without a connection = %v", err)
	}
	c, _, err := dial(t, s, relaytest.RelayPath, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"hello","platform":"relay","botId":""}`)
	c.next()
	// Frames already received are found too.
	if f, err := s.WaitFrame(ctxT(t), func(f relaytest.Frame) bool { return f.Type == "hello" }); err != nil || !f.OwnMessage || f.Conn != 1 {
		t.Fatalf("WaitFrame = %+v (%v)", f, err)
	}
	s.Close()
	s.Close() // idempotent
	if _, _, err := c.ws.Read(ctxT(t)); err == nil {
		t.Fatalf("the connection survived Close")
	}
}

func TestWaitOutboundAndMedia(t *testing.T) {
	s := startServer(t, relaytest.Options{Answers: true})
	c, _, err := dial(t, s, relaytest.RelayPath, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"hello","platform":"discord","botId":"1"}`)
	c.next()
	c.send(`{"type":"outbound","requestId":"r1","action":{"op":"typing","chat_id":"c"},"platform":"discord"}`)
	c.send(`{"type":"outbound","requestId":"r2","action":{"op":"thread_create","chat_id":"c","thread_name":"n"},"platform":"discord"}`)
	o, i, err := s.WaitOutbound(ctxT(t), 0, func(o relaytest.OutboundFrame) bool { return o.Op() == "thread_create" })
	if err != nil || i != 1 || o.RequestID != "r2" {
		t.Fatalf("WaitOutbound = %+v, %d, %v", o, i, err)
	}
	c.next()
	if f := c.next(); f.Result.Result.Raw["thread_id"] != "m-thread-1" {
		t.Fatalf("thread_create answered %+v", f.Result)
	}
	id, err := s.PutMedia("text/plain", "a.txt", []byte("hi"))
	if err != nil || s.MediaURL(id) != s.URL()+relaytest.MediaPath+"/"+id {
		t.Fatalf("PutMedia = %q, %v", id, err)
	}
	if ct, name, data, ok := s.Media(id); !ok || ct != "text/plain" || name != "a.txt" || string(data) != "hi" {
		t.Fatalf("Media = %q %q %q %v", ct, name, data, ok)
	}
}
