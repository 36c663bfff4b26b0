package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
)

// The loss tests push a steady stream of buffered Discord forwards, each with
// its own bufferId and its own interaction id, through the real binary with
// the real Discord plugin and the webhook agent, while a fault strikes again
// and again. Afterwards, with "taken" meaning the agent answered 2xx for the
// interaction:
//
//  1. every bufferId was acked (the connector's buffer is empty);
//  2. every acked forward was taken by the agent;
//  3. no forward was taken after its ack reached the connector.
//
// (2) and (3) together say each forward was taken at least once, and only
// before the connector saw it settled: redeliveries of a forward whose ack
// was lost (a host killed between the agent's answer and the ack) may reach
// the agent again, which is the at-least-once delivery that docs/protocol.md
// (Settlement) promises; once the ack is in, never. The agent checks (3) at
// the moment it takes an event, against the connector's own record of acks.
//
// relaytest.Server keeps its buffer across host processes, which is exactly
// the connector's durable buffer.

// lossLoadInterval paces the producer: 500 forwards a second, a steady load
// that keeps dozens of forwards in flight at any moment of a fault.
const lossLoadInterval = 2 * time.Millisecond

// lossDrainQuiet is how long draining waits for progress before it drops
// the link to make the connector replay what is still buffered; a healthy
// host settles a forward in milliseconds. A slow machine only causes an
// extra replay, which the properties above must survive anyway.
const lossDrainQuiet = 3 * time.Second

// lossInteraction is the golden the forwards are made from, each with a
// fresh interaction id.
const lossInteraction = "slash_command_docs_cardsearch.json"

// lossAgent is a webhook agent that records every event it takes, keyed by
// the interaction id (the event's message_id), and checks (3) as it does.
type lossAgent struct {
	t   *testing.T
	srv *relaytest.Server
	rig *lossRig

	mu       sync.Mutex
	failing  bool
	taken    map[string]int // interaction id → times taken
	failures int            // 500s answered
	late     []string       // interaction ids taken after their ack
	changed  notify.Signal  // notified on every request
}

func (a *lossAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.MessageID == "" {
		a.t.Errorf("agent got an event without a message_id: %s", body)
		http.Error(w, "no message_id", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.changed.Notify()
	if a.failing {
		a.failures++
		http.Error(w, "agent restarting", http.StatusInternalServerError)
		return
	}
	if a.rig.acked(ev.MessageID) {
		a.late = append(a.late, ev.MessageID)
	}
	a.taken[ev.MessageID]++
	w.WriteHeader(http.StatusNoContent)
}

func (a *lossAgent) setFailing(f bool) {
	a.mu.Lock()
	a.failing = f
	a.mu.Unlock()
}

// waitFailures waits until the agent has answered 500 at least n times.
func (a *lossAgent) waitFailures(ctx context.Context, n int) error {
	err := a.changed.Wait(ctx, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.failures >= n
	})
	if err != nil {
		return fmt.Errorf("waiting for %d agent failures: %w", n, err)
	}
	return nil
}

func (a *lossAgent) failureCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failures
}

// lossRig is one scenario: a connector, the agent, the host processes and
// the forwards sent.
type lossRig struct {
	t        *testing.T
	ctx      context.Context
	srv      *relaytest.Server
	agent    *lossAgent
	agentURL string
	secret   string
	plugins  string
	body     map[string]any
	extra    []string // more flags for every host
	// hostArgs choose the agent of startHost; nil: the webhook agent at
	// agentURL.
	hostArgs []string

	mu        sync.Mutex
	hosts     []*process
	byBuffer  map[string]string // bufferId → interaction id
	byID      map[string]string // interaction id → bufferId
	nextID    int
	producing sync.WaitGroup
	stop      chan struct{}
}

func newLossRig(t *testing.T) *lossRig { return newLossRigWith(t, relaytest.Options{}) }

// newLossRigWith is newLossRig with a connector made with opts.
func newLossRigWith(t *testing.T, opts relaytest.Options) *lossRig {
	t.Helper()
	r := &lossRig{t: t, ctx: testCtx(t), secret: secretFile(t), plugins: pluginsDir(t, false),
		byBuffer: map[string]string{}, byID: map[string]string{}}
	r.srv = connector(t, opts)
	r.agent = &lossAgent{t: t, srv: r.srv, rig: r, taken: map[string]int{}}
	hs := httptest.NewServer(r.agent)
	t.Cleanup(hs.Close)
	r.agentURL = hs.URL
	if err := json.Unmarshal(golden(t, lossInteraction), &r.body); err != nil {
		t.Fatal(err)
	}
	return r
}

// startHost starts a `relay-host run` with the webhook agent.
func (r *lossRig) startHost() *process {
	r.t.Helper()
	dials := r.srv.Dials()
	agentArgs := r.hostArgs
	if agentArgs == nil {
		agentArgs = []string{"--agent", "webhook", "--agent-url", r.agentURL}
	}
	args := append(append(append([]string(nil), agentArgs...), "--log-level", "info"), r.extra...)
	p := start(r.t, nil, runArgs(r.srv, r.secret, r.plugins, args...)...)
	if err := r.srv.WaitHandshake(r.ctx, dials+1); err != nil {
		r.t.Fatalf("the host did not connect: %v\n%s", err, p.stderr.String())
	}
	r.mu.Lock()
	r.hosts = append(r.hosts, p)
	r.mu.Unlock()
	return p
}

// enqueue buffers one forward with a fresh interaction id.
func (r *lossRig) enqueue() {
	r.mu.Lock()
	r.nextID++
	id := fmt.Sprintf("9%018d", r.nextID)
	r.mu.Unlock()
	body := make(map[string]any, len(r.body))
	for k, v := range r.body {
		body[k] = v
	}
	body["id"] = id
	// The text ("/cardsearch <id>") names the forward too, so that a
	// reply to its event can be told from the others'.
	body["data"] = map[string]any{"type": 1, "name": "cardsearch", "id": "771825006014889984",
		"options": []any{map[string]any{"type": 3, "name": "cardname", "value": id}}}
	b, err := json.Marshal(body)
	if err != nil {
		r.t.Error(err)
		return
	}
	// Register the id before the forward can reach the agent.
	r.mu.Lock()
	r.byID[id] = ""
	r.mu.Unlock()
	buf := r.srv.Enqueue(discordForward(b))
	r.mu.Lock()
	r.byBuffer[buf] = id
	r.byID[id] = buf
	r.mu.Unlock()
}

// acked reports whether the connector has an ack for the forward with this
// interaction id.
func (r *lossRig) acked(id string) bool {
	r.mu.Lock()
	buf := r.byID[id]
	r.mu.Unlock()
	if buf == "" {
		return false // not even registered with its bufferId yet
	}
	for _, a := range r.srv.Acks() {
		if a == buf {
			return true
		}
	}
	return false
}

// produce starts the steady load; stopProducing ends it.
func (r *lossRig) produce() {
	r.stop = make(chan struct{})
	r.producing.Add(1)
	go func() {
		defer r.producing.Done()
		tick := time.NewTicker(lossLoadInterval)
		defer tick.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-r.ctx.Done():
				return
			case <-tick.C:
				r.enqueue()
			}
		}
	}()
}

func (r *lossRig) stopProducing() {
	close(r.stop)
	r.producing.Wait()
}

// progress waits until n more acks have reached the connector than when it
// was called.
func (r *lossRig) progress(n int) {
	r.t.Helper()
	want := len(r.srv.Acks()) + n
	seen := 0
	if _, err := r.srv.WaitFrame(r.ctx, func(f relaytest.Frame) bool {
		if f.Type == "inbound_ack" {
			seen++
		}
		return seen >= want
	}); err != nil {
		r.t.Fatalf("no progress: %d of %d acks: %v", len(r.srv.Acks()), want, err)
	}
}

// replay drops the link so that the connector replays its un-acked tail on
// the next connection, and waits for that connection.
func (r *lossRig) replay() {
	r.t.Helper()
	dials := r.srv.Dials()
	if err := r.srv.CloseConn(1012, "replay"); err != nil {
		r.t.Fatal(err)
	}
	if err := r.srv.WaitHandshake(r.ctx, dials+1); err != nil {
		r.t.Fatalf("no reconnect for the replay: %v", err)
	}
}

// drain waits until the connector's buffer is empty. When nothing is acked
// for lossDrainQuiet, it drops the link so that the connector replays the
// un-acked tail on the next connection, as the real one does.
func (r *lossRig) drain() {
	r.t.Helper()
	for round := 0; ; round++ {
		pending := r.srv.Pending()
		if len(pending) == 0 {
			return
		}
		if r.ctx.Err() != nil {
			r.t.Fatalf("%d forwards never acked, e.g. %v", len(pending), pending[:min(5, len(pending))])
		}
		ctx, cancel := context.WithTimeout(r.ctx, lossDrainQuiet)
		err := r.srv.WaitAcked(ctx, pending[0])
		cancel()
		if err != nil && r.ctx.Err() == nil {
			r.t.Logf("drain round %d: %d forwards still buffered; dropping the link to have them replayed", round, len(pending))
			r.replay()
		}
	}
}

// check asserts the three properties and logs the figures.
func (r *lossRig) check(name string) {
	r.t.Helper()
	r.drain()
	r.mu.Lock()
	failed := 0
	for _, h := range r.hosts {
		failed += strings.Count(h.stderr.String(), "left un-acknowledged for redelivery")
	}
	sent := len(r.byBuffer)
	byBuffer := make(map[string]string, sent)
	for k, v := range r.byBuffer {
		byBuffer[k] = v
	}
	r.mu.Unlock()
	r.agent.mu.Lock()
	defer r.agent.mu.Unlock()
	if pending := r.srv.Pending(); len(pending) != 0 {
		r.t.Errorf("%d bufferIds never acked", len(pending))
	}
	acked := map[string]bool{}
	for _, a := range r.srv.Acks() {
		acked[a] = true
	}
	redelivered := 0
	for buf, id := range byBuffer {
		if !acked[buf] {
			r.t.Errorf("forward %s (%s) was never acked", buf, id)
			continue
		}
		switch n := r.agent.taken[id]; {
		case n == 0:
			r.t.Errorf("forward %s (%s) was acked but never reached the agent", buf, id)
		case n > 1:
			redelivered++
		}
	}
	if len(r.agent.late) > 0 {
		r.t.Errorf("%d forwards reached the agent after their ack, e.g. %v", len(r.agent.late), r.agent.late[:min(5, len(r.agent.late))])
	}
	r.t.Logf("%s: %d forwards, all acked (%d acks in all); %d deliveries failed un-acked and were redelivered; %d forwards taken again before their ack (at-least-once), none after; %d host processes, %d connections; %d agent 500s",
		name, sent, len(r.srv.Acks()), failed, redelivered, len(r.hosts), r.srv.Dials(), r.agent.failures)
	if sent == 0 {
		r.t.Error("no forward was sent")
	}
}

// discordPID returns the host's Discord plugin process.
func discordPID(t *testing.T, host *process) int {
	t.Helper()
	for _, pid := range children(host.cmd.Process.Pid) {
		exe, err := os.Readlink(filepath.Join("/proc", fmt.Sprint(pid), "exe"))
		if err == nil && filepath.Base(exe) == "relay-plugin-discord" {
			return pid
		}
	}
	t.Fatalf("host %d has no Discord plugin child", host.cmd.Process.Pid)
	return 0
}

func TestNoBufferedForwardIsLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// replay: forwards that failed stay buffered until a reconnect
		// replays them, so the scenario ends with one.
		replay bool
		fault  func(r *lossRig, host *process)
	}{
		{"plugin killed with SIGKILL again and again", true, func(r *lossRig, host *process) {
			const kills = 4
			for i := range kills {
				r.progress(50)
				pid := discordPID(r.t, host)
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					r.t.Fatal(err)
				}
				// "plugin up" is logged once at start and once per restart.
				if err := host.stderr.waitFor(r.ctx, "plugin up", 2+i+1); err != nil {
					r.t.Fatal(err)
				}
			}
		}},
		{"WebSocket dropped by the connector again and again", false, func(r *lossRig, host *process) {
			const drops = 3
			for range drops {
				r.progress(50)
				dials := r.srv.Dials()
				if err := r.srv.CloseConn(1012, "connector restarting"); err != nil {
					r.t.Fatal(err)
				}
				if err := r.srv.WaitHandshake(r.ctx, dials+1); err != nil {
					r.t.Fatal(err)
				}
			}
		}},
		{"host stopped with SIGTERM and started again", false, func(r *lossRig, host *process) {
			for range 2 {
				r.progress(50)
				host.signal(r.t, syscall.SIGTERM)
				if code := host.wait(r.t); code != 0 {
					r.t.Fatalf("exit code after SIGTERM = %d, want 0", code)
				}
				host = r.startHost()
			}
		}},
		{"host killed with SIGKILL and started again", false, func(r *lossRig, host *process) {
			for range 2 {
				r.progress(50)
				plugins := children(host.cmd.Process.Pid)
				host.signal(r.t, syscall.SIGKILL)
				host.wait(r.t)
				awaitGone(r.t, plugins)
				host = r.startHost()
			}
		}},
		{"webhook agent failing for a while, then recovering", true, func(r *lossRig, host *process) {
			const exhausted = "not taken by the agent; forward left un-acknowledged"
			for range 2 {
				r.progress(50)
				before := strings.Count(host.stderr.String(), exhausted)
				r.agent.setFailing(true)
				// Long enough that some forwards exhaust the agent's
				// retries and stay un-acked, while others recover in the
				// middle of theirs.
				if err := host.stderr.waitFor(r.ctx, exhausted, before+1); err != nil {
					r.t.Fatal(err)
				}
				if err := r.agent.waitFailures(r.ctx, r.agent.failureCount()+100); err != nil {
					r.t.Fatal(err)
				}
				r.agent.setFailing(false)
			}
		}},
		{"host dormant, then woken by the connector's wake call", false, dormantThenWake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newLossRig(t)
			host := r.startHost()
			r.produce()
			tt.fault(r, host)
			r.progress(50) // the load flows again after the last fault
			r.stopProducing()
			if tt.replay {
				r.replay()
			}
			r.check(tt.name)
		})
	}
	t.Run("jetstream agent: host and its embedded server killed with SIGKILL, a worker killed mid-event", testJetStreamLoss)
}
