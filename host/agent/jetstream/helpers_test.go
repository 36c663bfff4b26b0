package jetstream_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

// rssAtStart is the test process's resident memory before any test ran
// (0 where /proc is absent), for BenchmarkEmbeddedPublish.
var rssAtStart int64

func TestMain(m *testing.M) {
	rssAtStart = readVMRSS()
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in these tests: generous, because the machine
// running them may be loaded; a healthy run takes milliseconds per wait.
const waitLimit = 20 * time.Second

func testLogger(t testing.TB) hclog.Logger {
	if os.Getenv("RELAY_TEST_NATS_LOG") != "" {
		return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug})
	}
	return hclog.NewNullLogger()
}

// startServer starts an embedded server on a free loopback port with a
// store in dir, stopped at the end of the test.
func startServer(t testing.TB, dir string) *js.Embedded {
	t.Helper()
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { shutdown(t, e) })
	return e
}

func shutdown(t testing.TB, e *js.Embedded) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// connect dials e with its token; closed at the end of the test.
func connect(t testing.TB, e *js.Embedded, name string) *nats.Conn {
	t.Helper()
	nc, err := js.Connect(js.ConnectConfig{URLs: []string{e.ClientURL()}, Token: e.Token(), Name: name, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func jsCtx(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	j, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return j
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test at waitLimit.
// Polling with a deadline is for states only visible by asking (stream
// info); it never stands in for a signal the code can give.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, waitLimit, what, cond)
}

// eventuallyWithin is eventually with its own limit.
func eventuallyWithin(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
