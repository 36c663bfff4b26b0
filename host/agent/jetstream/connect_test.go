package jetstream_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

// An unreachable server at start is an error, at once, naming the servers
// with their credentials redacted, and the cause.
func TestConnectUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	urls := []string{fmt.Sprintf("nats://s3cr3t-token@%s", addr), "nats://" + addr}
	start := time.Now()
	nc, err := js.Connect(js.ConnectConfig{URLs: urls})
	took := time.Since(start)
	if err == nil {
		nc.Close()
		t.Fatal("connected to nothing")
	}
	var ce *js.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v, want a *ConnectError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"nats://redacted@" + addr, "nats://" + addr, "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cr3t") {
		t.Errorf("error leaks the token: %q", msg)
	}
	if took > 2*js.DialTimeout {
		t.Errorf("took %s to fail, want within the dial timeout %s per server", took, js.DialTimeout)
	}
}

func TestConnectAuthChoices(t *testing.T) {
	_, err := js.Connect(js.ConnectConfig{URLs: []string{"nats://127.0.0.1:1"}, Token: "a", CredsFile: "b"})
	if !errors.Is(err, js.ErrAuthChoice) {
		t.Fatalf("token and creds: %v, want ErrAuthChoice", err)
	}
	var ce *js.ConnectError
	if _, err := js.Connect(js.ConnectConfig{}); !errors.As(err, &ce) {
		t.Fatalf("no URL: %v, want a *ConnectError", err)
	}
}

// The connection outlives the server: relay-host keeps reconnecting and
// publishes again once the server is back on its address.
func TestConnectReconnectsAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	e := startServer(t, dir)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.ClientURL(), "nats://"))
	nc := connect(t, e, "survivor")
	if _, err := js.EnsureStream(ctxFor(t), jsCtx(t, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	pub, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	if _, err := pub.Publish(ctx, "r/0", "discord", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	shutdown(t, e)
	e2, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:" + port})
	if err != nil {
		t.Fatalf("restart on port %s: %v", port, err)
	}
	t.Cleanup(func() { shutdown(t, e2) })
	eventually(t, "publishing again after the restart", func() bool {
		_, err := pub.Publish(ctx, "r/1", "discord", []byte(`{}`))
		return err == nil
	})
	if ok, reason := pub.Ready(); !ok {
		t.Fatalf("Ready() = false, %q after a successful publish", reason)
	}
}

// The host's own clients can reach its embedded server in-process (with the
// token: the server checks it there too, though a refusal takes nats.go 10 s
// to report, so it is not exercised here).
func TestConnectInProcess(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc, err := js.Connect(js.ConnectConfig{InProcess: e.InProcess(), Token: e.Token()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := js.EnsureStream(ctxFor(t), jsCtx(t, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
}
