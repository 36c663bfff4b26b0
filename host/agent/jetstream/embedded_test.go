package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

func TestEmbeddedListenAddress(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		allow        bool
		notLoopback  bool
	}{
		{"all interfaces refused", ":4222", false, true},
		{"a public address refused", "192.0.2.1:4222", false, true},
		{"a host name other than localhost refused", "example.com:4222", false, true},
		{"no port refused", "127.0.0.1", false, false},
		{"port out of range refused", "127.0.0.1:70000", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: tc.listen, AllowNonLoopback: tc.allow})
			var le *js.ListenError
			if !errors.As(err, &le) || le.Addr != tc.listen {
				t.Fatalf("StartEmbedded(%q) = %v, want a *ListenError for it", tc.listen, err)
			}
			if got := errors.Is(err, js.ErrNotLoopback); got != tc.notLoopback {
				t.Fatalf("errors.Is(%v, ErrNotLoopback) = %v, want %v", err, got, tc.notLoopback)
			}
		})
	}
}

func TestEmbeddedLocalhostAndIPv6LoopbackAccepted(t *testing.T) {
	for _, listen := range []string{"localhost:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			if listen == "[::1]:0" {
				if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				} else {
					l.Close()
				}
			}
			e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: listen})
			if err != nil {
				t.Fatalf("StartEmbedded(%q): %v", listen, err)
			}
			shutdown(t, e)
		})
	}
}

func TestEmbeddedRequiresToken(t *testing.T) {
	dir := t.TempDir()
	e := startServer(t, dir)
	fi, err := os.Stat(filepath.Join(dir, js.TokenFileName))
	if err != nil {
		t.Fatalf("generated token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if e.TokenFile() != filepath.Join(dir, js.TokenFileName) {
		t.Fatalf("TokenFile() = %q", e.TokenFile())
	}
	if len(e.Token()) != 64 {
		t.Fatalf("token of %d characters, want 64 hex", len(e.Token()))
	}
	// No token, a wrong token: refused.
	for name, opt := range map[string]nats.Option{"none": nats.Name("x"), "wrong": nats.Token("not-it")} {
		nc, err := nats.Connect(e.ClientURL(), opt, nats.Timeout(waitLimit))
		if err == nil {
			nc.Close()
			t.Fatalf("token %s: connected without the server's token", name)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("token %s: %v, want an authorization error", name, err)
		}
	}
	// The token file, as a worker would use it.
	nc, err := js.Connect(js.ConnectConfig{URLs: []string{e.ClientURL()}, TokenFile: e.TokenFile()})
	if err != nil {
		t.Fatalf("Connect with the token file: %v", err)
	}
	nc.Close()
}

func TestEmbeddedGivenTokenFile(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tf, []byte("  my-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", TokenFile: tf})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	defer shutdown(t, e)
	if e.Token() != "my-token" {
		t.Fatalf("Token() = %q, want the file's trimmed content", e.Token())
	}
	if _, err := os.Stat(filepath.Join(dir, js.TokenFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a token was generated although one was given: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	_, err = js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", TokenFile: empty})
	var tfe *js.TokenFileError
	if !errors.As(err, &tfe) || tfe.Path != empty {
		t.Fatalf("empty token file: %v, want a *TokenFileError naming it", err)
	}
}

// A second server on a port in use fails at once with the address, instead
// of waiting out the ready timeout.
func TestEmbeddedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	start := time.Now()
	_, err = js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: addr})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("StartEmbedded on a busy port: %v, want an error naming %s", err, addr)
	}
	var se *js.StartError
	if !errors.As(err, &se) || !se.AddrInUse() {
		t.Fatalf("StartEmbedded on a busy port: %#v, want a *StartError saying the address is in use", err)
	}
	if took := time.Since(start); took > waitLimit {
		t.Fatalf("took %s to fail", took)
	}
}

// The store and the token outlive a restart on the same data dir.
func TestEmbeddedRestartKeepsStreamAndToken(t *testing.T) {
	dir := t.TempDir()
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	token := e.Token()
	nc, err := js.Connect(js.ConnectConfig{URLs: []string{e.ClientURL()}, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	if _, err := js.EnsureStream(ctx, jsCtx(t, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b1/0", "b1/1", "b2/0"} {
		if _, err := p.Publish(ctx, id, "discord", []byte(`{"event_id":"`+id+`"}`)); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
	nc.Close()
	shutdown(t, e)

	e2 := startServer(t, dir)
	if e2.Token() != token {
		t.Fatalf("token changed across a restart")
	}
	nc2 := connect(t, e2, "after-restart")
	s, err := jsCtx(t, nc2).Stream(ctx, js.StreamName)
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if n := s.CachedInfo().State.Msgs; n != 3 {
		t.Fatalf("stream holds %d events after restart, want 3", n)
	}
	m, err := s.GetMsg(ctx, 2)
	if err != nil || m.Header.Get("Nats-Msg-Id") != "b1/1" || m.Subject != "relay.v1.events.gw.discord" {
		t.Fatalf("message 2 after restart: %+v, %v", m, err)
	}
	// The duplicate window survives too: the same id is not stored twice.
	p2, _ := js.NewPublisher(nc2, js.PublisherConfig{GatewayID: "gw"})
	ack, err := p2.Publish(ctx, "b2/0", "discord", []byte(`{}`))
	if err != nil || !ack.Duplicate {
		t.Fatalf("republish after restart: %+v, %v; want a duplicate", ack, err)
	}
}

func TestEmbeddedShutdownHonoursContext(t *testing.T) {
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Already cancelled: either it stopped at once or it says so; then a
	// real wait finishes the stop.
	if err := e.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown(cancelled) = %v", err)
	}
	shutdown(t, e)
}

// Nothing the server logs, at any level, holds the token or an event body.
func TestEmbeddedLogsHoldNoSecrets(t *testing.T) {
	var buf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &buf})
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, e, "secrets")
	ctx := ctxFor(t)
	if _, err := js.EnsureStream(ctx, jsCtx(t, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	p, _ := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw"})
	if _, err := p.Publish(ctx, "e/0", "discord", []byte(`{"text":"a private message"}`)); err != nil {
		t.Fatal(err)
	}
	// A failed login logs the attempt; it must not log what was tried.
	if bad, err := nats.Connect(e.ClientURL(), nats.Token("wrong-token-value")); err == nil {
		bad.Close()
	}
	nc.Close()
	shutdown(t, e)
	out := buf.String()
	if !strings.Contains(out, "nats-server") {
		t.Fatalf("no server log line reached the logger:\n%s", out)
	}
	for _, secret := range []string{e.Token(), "a private message", "wrong-token-value"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Port 0 picks a free port (nats-server itself reads 0 as its default
// port, 4222): two servers side by side get two ports.
func TestEmbeddedPortZeroPicksFreePort(t *testing.T) {
	a := startServer(t, t.TempDir())
	b := startServer(t, t.TempDir())
	if a.ClientURL() == b.ClientURL() {
		t.Fatalf("two servers on %s", a.ClientURL())
	}
	for _, e := range []*js.Embedded{a, b} {
		if strings.HasSuffix(e.ClientURL(), ":4222") || strings.HasSuffix(e.ClientURL(), ":0") {
			t.Fatalf("ClientURL() = %s, want the picked port", e.ClientURL())
		}
	}
}

// Two servers never share a store: the second is refused while the first
// runs, and starts once it has stopped.
func TestEmbeddedDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	a, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	var inUse *js.DataDirInUseError
	if !errors.As(err, &inUse) || inUse.Dir != dir {
		shutdown(t, a)
		t.Fatalf("second server on one data dir: %v, want a *DataDirInUseError", err)
	}
	shutdown(t, a)
	b, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	shutdown(t, b)
}

// A store JetStream cannot use fails the start with the server's reason.
func TestEmbeddedUnusableStore(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jetstream"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err == nil {
		shutdown(t, e)
		t.Fatal("started with a file where the store should be")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "jetstream") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not say the store failed", err)
	}
	// The data dir's lock went with the failed start.
	os.Remove(filepath.Join(dir, "jetstream"))
	e, err = js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, e)
}
