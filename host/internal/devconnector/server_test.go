package devconnector

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of these tests; each returns as soon as its
// condition holds.
const waitTimeout = 10 * time.Second

func deadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// gateway is a bare WebSocket peer standing in for relay-host.
type gateway struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, s *Server) *gateway {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	url := strings.Replace(s.URL(), "http://", "ws://", 1) + RelayPath
	ws, _, err := websocket.Dial(deadline(t), url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &gateway{t: t, ws: ws}
}

func (g *gateway) send(line string) {
	g.t.Helper()
	if err := g.ws.Write(deadline(g.t), websocket.MessageText, []byte(line+"\n")); err != nil {
		g.t.Fatal(err)
	}
}

// next reads one message and decodes it with the gateway's codec.
func (g *gateway) next() wire.Frame {
	g.t.Helper()
	_, b, err := g.ws.Read(deadline(g.t))
	if err != nil {
		g.t.Fatalf("read: %v", err)
	}
	f, err := wire.DecodeFrame(b)
	if err != nil {
		g.t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

func TestEnqueueSaysWhetherTheForwardWentOut(t *testing.T) {
	s := start(t, Options{})
	before, pushed := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/before"})
	if pushed {
		t.Fatal("Enqueue with no host connected reported the forward pushed")
	}
	g := dial(t, s)
	g.send(`{"type":"hello","platform":"discord","botId":"1"}`)
	if f := g.next(); f.Descriptor == nil || f.Descriptor.Platform != "discord" {
		t.Fatalf("first frame = %+v, want the descriptor", f)
	}
	if f := g.next(); f.Forward == nil || f.Forward.BufferID != before {
		t.Fatalf("second frame = %+v, want the backlog", f)
	}
	live, pushed := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/live", Body: []byte("x")})
	if !pushed {
		t.Fatal("Enqueue with a host connected reported the forward buffered")
	}
	if f := g.next(); f.Forward == nil || f.Forward.BufferID != live || !bytes.Equal(f.Forward.Body, []byte("x")) {
		t.Fatalf("pushed frame = %+v", f)
	}
	g.send(`{"type":"going_idle"}`)
	if f := g.next(); f.Type != wire.TypeGoingIdleAck {
		t.Fatalf("going_idle answered with %+v", f)
	}
	if held, pushed := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/held"}); pushed {
		t.Fatalf("Enqueue after going_idle pushed %s; buffered-only delivery holds it", held)
	}
	if p := s.Pending(); len(p) != 3 || p[0] != before || p[1] != live {
		t.Fatalf("pending = %v", p)
	}
}

func TestOnFrameSeesEveryFrameInOrderAfterTheBufferIsTrimmed(t *testing.T) {
	var (
		mu       sync.Mutex
		types    []string
		atAck    []string // Pending() when the ack was reported
		reported notify.Signal
	)
	var s *Server
	s = start(t, Options{OnFrame: func(f Frame) {
		mu.Lock()
		types = append(types, f.Type)
		if f.Type == "inbound_ack" {
			atAck = s.Pending()
		}
		mu.Unlock()
		reported.Notify()
	}})
	id, _ := s.Enqueue(pluginapi.Forward{Platform: "discord"})
	g := dial(t, s)
	g.send(`{"type":"hello","platform":"discord","botId":"1"}`)
	g.next() // descriptor
	g.next() // the backlog
	g.send(`{"type":"inbound_ack","bufferId":"` + id + `"}`)
	g.send(`{"type":"interrupt","session_key":"k","reason":null}`)
	err := reported.Wait(deadline(t), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(types) == 3
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(types, []string{"hello", "inbound_ack", "interrupt"}) {
		t.Fatalf("frames reported = %q", types)
	}
	if atAck == nil || slices.Contains(atAck, id) {
		t.Fatalf("pending when the ack was reported = %v; the buffer must be trimmed first", atAck)
	}
}

func TestWaitHandshake(t *testing.T) {
	s := start(t, Options{})
	if err := s.WaitHandshake(context.Background(), 1); !errors.Is(err, notify.ErrNoDeadline) {
		t.Fatalf("WaitHandshake without a deadline = %v, want ErrNoDeadline", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitHandshake(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHandshake with no connection = %v, want the deadline", err)
	}
	g := dial(t, s)
	g.send(`{"type":"hello","platform":"relay","botId":""}`)
	if err := s.WaitHandshake(deadline(t), 1); err != nil {
		t.Fatal(err)
	}
	g.next() // the descriptor
	if err := s.Send([]byte("x"), false); err != nil {
		t.Fatalf("Send to the handshaked connection: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.CloseConns(1000, "bye") }()
	if _, b, err := g.ws.Read(deadline(t)); err != nil || string(b) != "x" {
		t.Fatalf("the gateway read %q (%v), want the message sent", b, err)
	}
	var ce websocket.CloseError
	if _, _, err := g.ws.Read(deadline(t)); !errors.As(err, &ce) || ce.Code != 1000 || ce.Reason != "bye" {
		t.Fatalf("after CloseConns the gateway read %v, want close 1000 bye", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("x"), false); !errors.Is(err, ErrNoConnection) {
		t.Fatalf("Send after CloseConns = %v, want ErrNoConnection", err)
	}
}
