package relay_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

// dormantAfter is the quiet period of these tests: short, so that each
// test goes dormant quickly.
const dormantAfter = 50 * time.Millisecond

// noDialWindow is how long a test watches for a dial that must not happen.
// The harness's backoff is 1–5 ms, so a client that re-dialed on its own
// would dial dozens of times within it.
const noDialWindow = 300 * time.Millisecond

func dormantConfig() relay.Config {
	cfg := twoIdentities()
	cfg.DormantAfter = dormantAfter
	return cfg
}

// waitState waits until the client has reported state s at least n times.
func (hz *harness) waitState(ctx context.Context, s relay.State, n int) {
	hz.t.Helper()
	hz.obs.wait(ctx, hz.t, "state "+s.String(), func() bool {
		return hz.obs.count(func() int {
			k := 0
			for _, st := range hz.obs.states {
				if st == s {
					k++
				}
			}
			return k
		}) >= n
	})
}

// dialTimes returns when the client reported each dial (StateConnecting).
func (hz *harness) dialTimes() []time.Time {
	hz.obs.mu.Lock()
	defer hz.obs.mu.Unlock()
	var out []time.Time
	for i, st := range hz.obs.states {
		if st == relay.StateConnecting {
			out = append(out, hz.obs.stateAt[i])
		}
	}
	return out
}

// assertNoDial fails when the connector sees more than dials upgrades
// within noDialWindow.
func assertNoDial(t *testing.T, srv *relaytest.Server, dials int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), noDialWindow)
	defer cancel()
	if err := srv.WaitConns(ctx, dials+1); err == nil {
		t.Fatalf("the client dialed again while dormant (%d dials, want %d)", srv.Dials(), dials)
	}
}

func TestDormantAfterQuietThenWakeReplaysTheBuffer(t *testing.T) {
	hz := start(t, authed(), dormantConfig())
	ctx := waitCtx(t)
	info, err := hz.srv.WaitClosed(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Code != 1000 || info.Reason != relay.DormantCloseReason {
		t.Fatalf("dormant close = %+v, want 1000 %q", info, relay.DormantCloseReason)
	}
	if _, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "going_idle" }); err != nil {
		t.Fatal(err)
	}
	hz.waitState(ctx, relay.StateDormant, 1)
	if !hz.c.Dormant() || hz.c.State() != relay.StateDormant || hz.c.Ready() {
		t.Fatalf("Dormant %v, State %v, Ready %v; want dormant and not ready", hz.c.Dormant(), hz.c.State(), hz.c.Ready())
	}
	// No dial until a wake; what arrives meanwhile is buffered.
	id := hz.srv.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/while-dormant"})
	assertNoDial(t, hz.srv, 1)
	if len(hz.h.Forwards()) != 0 {
		t.Fatal("a forward was delivered while dormant")
	}

	hz.h.mu.Lock()
	hz.h.onForward = func(f pluginapi.Forward) {
		go func() { _ = hz.c.AckInbound(f.BufferID) }()
	}
	hz.h.mu.Unlock()
	if got := hz.c.Wake(); got != relay.WakeWaking {
		t.Fatalf("Wake = %q, want %q", got, relay.WakeWaking)
	}
	f := hz.h.waitForward(ctx, t, "the buffered forward, replayed", byPath("/while-dormant"))
	if f.BufferID != id {
		t.Fatalf("replayed bufferId = %q, want %q", f.BufferID, id)
	}
	if err := hz.srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if hz.srv.Dials() != 2 {
		t.Fatalf("dials = %d, want 2 (the first, the wake)", hz.srv.Dials())
	}
	if err := hz.c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if hz.c.Dormant() {
		t.Fatal("still dormant after the wake's handshake")
	}
}

func TestWakeWhileConnectedIsANoop(t *testing.T) {
	cfg := twoIdentities()
	cfg.DormantAfter = time.Hour
	hz := start(t, authed(), cfg)
	for range 100 {
		if got := hz.c.Wake(); got != relay.WakeConnected {
			t.Fatalf("Wake while connected = %q, want %q", got, relay.WakeConnected)
		}
	}
	assertNoDial(t, hz.srv, 1)
	if hz.c.Dormant() {
		t.Fatal("Dormant while connected")
	}
}

func TestWakeStormDialsOnce(t *testing.T) {
	hz := start(t, authed(), dormantConfig())
	ctx := waitCtx(t)
	hz.waitState(ctx, relay.StateDormant, 1)
	var wg sync.WaitGroup
	var waking, connected atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				switch hz.c.Wake() {
				case relay.WakeWaking:
					waking.Add(1)
				case relay.WakeConnected:
					connected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if waking.Load()+connected.Load() != 1000 {
		t.Fatalf("answers: %d waking + %d connected, want 1000", waking.Load(), connected.Load())
	}
	if err := hz.srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// The storm is over: the link goes dormant again, having dialed once,
	// and no wake left over from the storm dials it again (a leftover
	// would dial within the dormant cadence).
	hz.waitState(ctx, relay.StateDormant, 2)
	if n := hz.srv.Dials(); n != 2 {
		t.Fatalf("dials = %d, want 2: a thousand wakes cost one dial", n)
	}
	wctx, cancel := context.WithTimeout(ctx, relay.DormantCadence+500*time.Millisecond)
	defer cancel()
	if err := hz.srv.WaitConns(wctx, 3); err == nil {
		t.Fatalf("dials = %d after the storm: a leftover wake dialed again", hz.srv.Dials())
	}
}

// The wake's dial waits for the dormant cadence (one dial per second at
// most) and never longer; it does not advance the backoff ladder.
func TestWakeDialCadenceAndLadder(t *testing.T) {
	hz := newHarness(t, authed(), dormantConfig())
	// The wake's connection is dropped right after its handshake: the
	// reconnect that follows shows the ladder's attempt.
	hz.srv.PlanNext(relaytest.Plan{}, relaytest.Plan{CloseAfterDescriptor: true, CloseCode: 1012, CloseReason: "restarting"})
	hz.run()
	ctx := waitCtx(t)
	hz.waitState(ctx, relay.StateDormant, 1)
	hz.c.Wake() // at once: well within a second of the first dial
	if err := hz.srv.WaitHandshake(ctx, 3); err != nil {
		t.Fatal(err)
	}
	dials := hz.dialTimes()
	if len(dials) < 2 {
		t.Fatalf("dials reported: %d", len(dials))
	}
	// The observer hears of a dial a moment after it starts; 100 ms
	// covers that on a loaded machine, and a client without the cadence
	// re-dials within a few ms of the dormant close.
	if gap := dials[1].Sub(dials[0]); gap < relay.DormantCadence-100*time.Millisecond {
		t.Errorf("the wake dialed %s after the previous dial, want at least the dormant cadence %s", gap, relay.DormantCadence)
	}
	logs := hz.logs.String()
	m := regexp.MustCompile(`relay waking: dialing the connector: wait=([0-9.]+m?s)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no wake line in the log:\n%s", logs)
	}
	if wait, err := time.ParseDuration(m[1]); err != nil || wait > relay.DormantCadence {
		t.Errorf("the wake waited %s before dialing, want at most the dormant cadence %s", m[1], relay.DormantCadence)
	}
	// The first failure after the wake is attempt 1: neither the dormant
	// close nor the wake's dial advanced the ladder.
	var line string
	for _, e := range logEntries(logs) {
		if strings.Contains(e, "relay disconnected") && strings.Contains(e, "gen=2") {
			line = e
		}
	}
	if !strings.Contains(line, "attempt=1 ") {
		t.Errorf("the drop after the wake logged %q, want attempt=1", line)
	}
}

func TestMissedGoingIdleAckStaysConnected(t *testing.T) {
	opts := authed()
	opts.NeverAckIdle = true
	cfg := dormantConfig()
	cfg.GoingIdleTimeout = 50 * time.Millisecond
	hz := start(t, opts, cfg)
	ctx := waitCtx(t)
	n := 0
	if _, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool {
		if f.Type == "going_idle" {
			n++
		}
		return n == 2
	}); err != nil {
		t.Fatal(err)
	}
	hz.logs.waitFor(ctx, t, "did not acknowledge going_idle")
	if hz.srv.Dials() != 1 || !hz.c.Ready() || hz.c.Dormant() {
		t.Fatalf("dials %d, ready %v, dormant %v: want the first connection still up", hz.srv.Dials(), hz.c.Ready(), hz.c.Dormant())
	}
	if closes := hz.srv.Closes(); len(closes) != 0 {
		t.Fatalf("the connection was closed: %+v", closes)
	}
}

func TestNoDormancyWhileBusy(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	cfg := dormantConfig()
	cfg.Busy = busy.Load
	hz := start(t, authed(), cfg)
	ctx := waitCtx(t)
	wctx, cancel := context.WithTimeout(ctx, noDialWindow)
	_, err := hz.srv.WaitFrame(wctx, func(f relaytest.Frame) bool { return f.Type == "going_idle" })
	cancel()
	if err == nil {
		t.Fatal("going_idle sent while the host was busy")
	}
	busy.Store(false)
	hz.waitState(ctx, relay.StateDormant, 1)
}

func TestOutboundWakesADormantLink(t *testing.T) {
	hz := start(t, authed(), dormantConfig())
	ctx := waitCtx(t)
	hz.waitState(ctx, relay.StateDormant, 1)
	res := hz.c.Outbound(ctx, map[string]any{"op": "send", "chat_id": "c1", "content": "hi"}, "", "")
	if !res.Success {
		t.Fatalf("outbound from a dormant link = %+v, want success after the wake", res)
	}
	if hz.srv.Dials() != 2 {
		t.Fatalf("dials = %d, want 2", hz.srv.Dials())
	}
}

func TestDormantExitReturnsErrDormant(t *testing.T) {
	cfg := dormantConfig()
	cfg.DormantExit = true
	hz := newHarness(t, authed(), cfg).run()
	if err := hz.waitRun(waitCtx(t)); !errors.Is(err, relay.ErrDormant) {
		t.Fatalf("Run = %v, want ErrDormant", err)
	}
	if info, err := hz.srv.WaitClosed(waitCtx(t), 1); err != nil || info.Reason != relay.DormantCloseReason {
		t.Fatalf("close = %+v, %v", info, err)
	}
}

func TestCloseWhileDormantReturnsPromptly(t *testing.T) {
	hz := start(t, authed(), dormantConfig())
	ctx := waitCtx(t)
	hz.waitState(ctx, relay.StateDormant, 1)
	if err := hz.c.Close(ctx); err != nil {
		t.Fatalf("Close while dormant = %v", err)
	}
	if err := hz.waitRun(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if hz.srv.Dials() != 1 {
		t.Fatalf("dials = %d: Close dialed", hz.srv.Dials())
	}
}

func TestDeliveriesKeepTheLinkAwake(t *testing.T) {
	cfg := twoIdentities()
	cfg.DormantAfter = 500 * time.Millisecond
	hz := start(t, authed(), cfg)
	ctx := waitCtx(t)
	// A forward every 50 ms for three quiet periods: never quiet long
	// enough to go dormant (a gap ten times the pace would be needed).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range 30 {
		<-tick.C
		if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: fmt.Sprintf("/keepalive-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	hz.h.waitForward(ctx, t, "the last forward", byPath("/keepalive-29"))
	for _, f := range hz.srv.Frames() {
		if f.Type == "going_idle" {
			t.Fatal("went dormant while forwards kept arriving")
		}
	}
	hz.waitState(ctx, relay.StateDormant, 1)
}
