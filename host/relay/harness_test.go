package relay_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// waitTimeout bounds every wait in these tests. Nothing sleeps: the waits
// return as soon as their condition holds; the bound only turns a hang into
// a failure.
const waitTimeout = 10 * time.Second

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// broadcast is a change notification: wait re-checks a condition each time
// something is recorded.
type broadcast struct{ changed notify.Signal }

func (b *broadcast) notify() { b.changed.Notify() }

func (b *broadcast) wait(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := b.changed.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// logBuffer collects the client's logs; they are printed only when a test
// fails, and tests can wait for a line.
type logBuffer struct {
	broadcast
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.buf.Write(p)
	l.mu.Unlock()
	l.notify()
	return n, err
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) waitFor(ctx context.Context, t *testing.T, substr string) {
	t.Helper()
	l.wait(ctx, t, "log line "+substr, func() bool { return strings.Contains(l.String(), substr) })
}

// inboundCall is one Handler.Inbound call.
type inboundCall struct {
	ev       pluginapi.MessageEvent
	bufferID string
}

// handler records what the client delivers. Its methods never block; hooks
// run on the read goroutine and must hand work off themselves.
type handler struct {
	broadcast
	mu         sync.Mutex
	inbound    []inboundCall
	forwards   []pluginapi.Forward
	interrupts [][2]string
	onForward  func(pluginapi.Forward)
	onInbound  func(pluginapi.MessageEvent, string)
}

func (h *handler) Inbound(ev pluginapi.MessageEvent, bufferID string) {
	h.mu.Lock()
	h.inbound = append(h.inbound, inboundCall{ev, bufferID})
	hook := h.onInbound
	h.mu.Unlock()
	if hook != nil {
		hook(ev, bufferID)
	}
	h.notify()
}

func (h *handler) Passthrough(f pluginapi.Forward) {
	h.mu.Lock()
	h.forwards = append(h.forwards, f)
	hook := h.onForward
	h.mu.Unlock()
	if hook != nil {
		hook(f)
	}
	h.notify()
}

func (h *handler) InterruptInbound(sessionKey, chatID string) {
	h.mu.Lock()
	h.interrupts = append(h.interrupts, [2]string{sessionKey, chatID})
	h.mu.Unlock()
	h.notify()
}

func (h *handler) Forwards() []pluginapi.Forward {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]pluginapi.Forward(nil), h.forwards...)
}

func (h *handler) Inbounds() []inboundCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]inboundCall(nil), h.inbound...)
}

// waitForward waits until a forward matching match was delivered and
// returns it.
func (h *handler) waitForward(ctx context.Context, t *testing.T, what string, match func(pluginapi.Forward) bool) pluginapi.Forward {
	t.Helper()
	var got pluginapi.Forward
	h.wait(ctx, t, what, func() bool {
		for _, f := range h.Forwards() {
			if match(f) {
				got = f
				return true
			}
		}
		return false
	})
	return got
}

func byPath(p string) func(pluginapi.Forward) bool {
	return func(f pluginapi.Forward) bool { return f.Path == p }
}

// observer records the client's Observer hooks.
type observer struct {
	broadcast
	mu         sync.Mutex
	states     []relay.State
	stateAt    []time.Time // when each state was reported
	in, out    map[string]int
	bad        []string
	reconnects int
}

func newObserver() *observer { return &observer{in: map[string]int{}, out: map[string]int{}} }

func (o *observer) State(s relay.State) {
	o.mu.Lock()
	o.states = append(o.states, s)
	o.stateAt = append(o.stateAt, time.Now())
	o.mu.Unlock()
	o.notify()
}
func (o *observer) FrameIn(typ string) {
	o.mu.Lock()
	o.in[typ]++
	o.mu.Unlock()
	o.notify()
}
func (o *observer) FrameOut(typ string) {
	o.mu.Lock()
	o.out[typ]++
	o.mu.Unlock()
	o.notify()
}
func (o *observer) Reconnect() {
	o.mu.Lock()
	o.reconnects++
	o.mu.Unlock()
	o.notify()
}
func (o *observer) BadFrame(reason string) {
	o.mu.Lock()
	o.bad = append(o.bad, reason)
	o.mu.Unlock()
	o.notify()
}

func (o *observer) Bad() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.bad...)
}

func (o *observer) count(f func() int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f()
}

// harness is one relaytest connector and one client running against it.
type harness struct {
	t      *testing.T
	srv    *relaytest.Server
	c      *relay.Client
	h      *handler
	obs    *observer
	logs   *logBuffer
	cancel context.CancelFunc
	runErr chan error
	ran    bool
}

// newHarness starts a connector and builds a client for it with short test
// timings; run starts the client. Cleanup stops both and checks that Run
// returned.
func newHarness(t *testing.T, sopts relaytest.Options, cfg relay.Config) *harness {
	t.Helper()
	hz := &harness{t: t, h: &handler{}, obs: newObserver(), logs: &logBuffer{}, runErr: make(chan error, 1)}
	hz.srv = relaytest.New(sopts)
	if err := hz.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hz.srv.Close)
	if cfg.URL == "" {
		cfg.URL = hz.srv.URL()
	}
	if cfg.Handler == nil {
		cfg.Handler = hz.h
	}
	cfg.Observer = hz.obs
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: t.Name(), Output: hz.logs, Level: hclog.Trace})
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Millisecond
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	c, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hz.c = c
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", hz.logs.String())
		}
	})
	return hz
}

func (hz *harness) run() *harness {
	hz.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hz.cancel = cancel
	hz.ran = true
	go func() { hz.runErr <- hz.c.Run(ctx) }()
	hz.t.Cleanup(func() { hz.stop() })
	return hz
}

// stop cancels Run and waits for it; it returns Run's error.
func (hz *harness) stop() error {
	hz.t.Helper()
	if !hz.ran {
		return nil
	}
	hz.cancel()
	select {
	case err := <-hz.runErr:
		hz.runErr <- err // keep it for a second call
		return err
	case <-time.After(waitTimeout):
		hz.t.Fatalf("Run did not return after its context was cancelled")
		return nil
	}
}

// start is newHarness + run + WaitReady.
func start(t *testing.T, sopts relaytest.Options, cfg relay.Config) *harness {
	t.Helper()
	hz := newHarness(t, sopts, cfg).run()
	if err := hz.c.WaitReady(waitCtx(t)); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return hz
}

// waitRun waits for Run to return on its own and returns its error.
func (hz *harness) waitRun(ctx context.Context) error {
	hz.t.Helper()
	select {
	case err := <-hz.runErr:
		hz.runErr <- err
		return err
	case <-ctx.Done():
		hz.t.Fatalf("Run did not return")
		return nil
	}
}
