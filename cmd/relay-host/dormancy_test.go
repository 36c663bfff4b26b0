package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// Dormancy (scale to zero) through the real binary: the host goes dormant
// after --dormant-after without activity, keeps its plugins up, and comes
// back on a wake (/wake, SIGUSR1, the connector's wake call); the
// connector's buffer is replayed and acked.

// waitDormantClose waits until connection conn was closed for dormancy.
func waitDormantClose(t *testing.T, ctx context.Context, srv *relaytest.Server, conn int) {
	t.Helper()
	info, err := srv.WaitClosed(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if info.Code != 1000 || info.Reason != relay.DormantCloseReason {
		t.Fatalf("connection %d closed with %d %q, want 1000 %q", conn, info.Code, info.Reason, relay.DormantCloseReason)
	}
}

// wake calls /wake with method and returns the status and state.
func wake(t *testing.T, client *http.Client, method, listen string) (int, string) {
	t.Helper()
	status, state, err := callWake(client, method, listen)
	if err != nil {
		t.Fatal(err)
	}
	return status, state
}

// callWake is wake for any goroutine.
func callWake(client *http.Client, method, listen string) (int, string, error) {
	req, err := http.NewRequest(method, "http://"+listen+"/wake", nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var ans struct {
		State string `json:"state"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &ans); err != nil {
		return resp.StatusCode, "", fmt.Errorf("/wake answered %d %q: %w", resp.StatusCode, b, err)
	}
	return resp.StatusCode, ans.State, nil
}

var httpClient = &http.Client{Timeout: scenarioTimeout}

// awaitNoDial fails when the connector sees another upgrade within
// window: a host that re-dialed on its own (backoff starts at 0.5–1 s)
// would.
func awaitNoDial(t *testing.T, srv *relaytest.Server, dials int, window time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	if err := srv.WaitConns(ctx, dials+1); err == nil {
		t.Fatalf("the host dialed while dormant (%d dials, want %d)", srv.Dials(), dials)
	}
}

func TestRunGoesDormantAndWakes(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--listen", listen, "--dormant-after", "300ms")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	plugins := children(p.cmd.Process.Pid)
	waitDormantClose(t, ctx, srv, 1)
	if err := p.stderr.waitFor(ctx, "relay dormant: no dial until a wake", 1); err != nil {
		t.Fatal(err)
	}
	code, rz := readyz(t, listen)
	if code != http.StatusServiceUnavailable || !rz.Dormant || rz.Connector != "dormant" || len(rz.Reasons) == 0 || !strings.HasPrefix(rz.Reasons[0], "dormant") {
		t.Errorf("/readyz while dormant = %d %+v, want 503 saying dormant", code, rz)
	}
	_, metrics := get(t, "http://"+listen+"/metrics")
	for _, want := range []string{"relay_host_dormant 1", `relay_host_connection_state{state="dormant"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics while dormant lacks %s", want)
		}
	}

	// A forward buffered while dormant: no dial until the wake, then it
	// is replayed, served by the plugin that stayed up, and acked.
	id := srv.Enqueue(discordForward(golden(t, "slash_command_docs_cardsearch.json")))
	awaitNoDial(t, srv, 1, 1500*time.Millisecond)
	if status, state := wake(t, httpClient, http.MethodPost, listen); status != http.StatusAccepted || state != "waking" {
		t.Fatalf("POST /wake while dormant = %d %q, want 202 waking", status, state)
	}
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := children(p.cmd.Process.Pid); !sameSet(got, plugins) {
		t.Errorf("plugins %v before dormancy, %v after the wake: they must stay up", plugins, got)
	}
	if n := strings.Count(p.stderr.String(), "plugin up"); n != 2 {
		t.Errorf("%d plugin starts, want the first two only", n)
	}

	// Dormant again; this time the connector's wake call brings it back.
	waitDormantClose(t, ctx, srv, 2)
	srv.SetWakeURL("http://" + listen + "/wake")
	id = srv.Enqueue(discordForward(golden(t, "button_docs_click_one.json")))
	if err := srv.WaitWakes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if w := srv.Wakes()[0]; w.Status != http.StatusAccepted {
		t.Errorf("the connector's wake call got %d %v, want 202", w.Status, w.Err)
	}
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	stopHost(t, p)
	assertNoSecretsLogged(t, p.stderr.String(), srv)
}

func sameSet(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[int]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

func TestRunWakeWhileConnectedIsANoop(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--listen", listen, "--dormant-after", "1h")...)
	ctx := testCtx(t)
	// Connected as the host sees it: its descriptor arrived.
	if err := p.stderr.waitFor(ctx, "relay connected", 1); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if status, state := wake(t, httpClient, method, listen); status != http.StatusAccepted || state != "connected" {
			t.Errorf("%s /wake while connected = %d %q, want 202 connected", method, status, state)
		}
	}
	if code, rz := readyz(t, listen); code != http.StatusOK || rz.Dormant || len(rz.Reasons) != 0 {
		t.Errorf("/readyz = %d %+v", code, rz)
	}
	if srv.Dials() != 1 {
		t.Errorf("dials = %d, want 1", srv.Dials())
	}
	stopHost(t, p)
}

// connectingTimes returns when the host logged each dial.
func connectingTimes(t *testing.T, log string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "relay connecting") {
			continue
		}
		ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", strings.Fields(line)[0])
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, ts)
	}
	return out
}

func TestRunWakeStormDialsAtMostOncePerSecond(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	listen := freeAddr(t)
	// A short quiet period: between wakes the host goes dormant again at
	// once, so only the wake limit spaces its dials.
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--listen", listen, "--dormant-after", "50ms")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitDormantClose(t, ctx, srv, 1)

	// 1,000 wakes within about a second, GET and POST.
	const storm, workers = 1000, 20
	client := &http.Client{Timeout: scenarioTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var mu sync.Mutex
	answers := map[string]int{}
	pace := time.NewTicker(time.Second / storm)
	defer pace.Stop()
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for method := range jobs {
				status, state, err := callWake(client, method, listen)
				mu.Lock()
				if err != nil {
					answers[err.Error()]++
				} else {
					answers[http.StatusText(status)+" "+state]++
				}
				mu.Unlock()
			}
		}()
	}
	began := time.Now()
	for i := range storm {
		<-pace.C
		if i%2 == 0 {
			jobs <- http.MethodGet
		} else {
			jobs <- http.MethodPost
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(began)
	if answers["Accepted waking"]+answers["Accepted connected"] != storm {
		t.Fatalf("answers %v, want %d × 202 waking|connected", answers, storm)
	}
	if err := srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// Every dial the host logged is at least a second after the one
	// before (the log's clock has millisecond resolution, and the line
	// follows the dial by a moment on a loaded machine: 50 ms of slack).
	dials := connectingTimes(t, p.stderr.String())
	for i := 1; i < len(dials); i++ {
		if gap := dials[i].Sub(dials[i-1]); gap < relay.DormantCadence-50*time.Millisecond {
			t.Errorf("dial %d came %s after dial %d: more than one dial per second", i+1, gap, i)
		}
	}
	// And the wake's own wait never exceeds the cadence.
	for _, m := range regexp.MustCompile(`relay waking: dialing the connector: wait=(\S+)`).FindAllStringSubmatch(p.stderr.String(), -1) {
		if d, err := time.ParseDuration(m[1]); err != nil || d > relay.DormantCadence {
			t.Errorf("a wake waited %s before its dial, want at most %s", m[1], relay.DormantCadence)
		}
	}
	t.Logf("%d wakes in %s: %v; %d dials", storm, elapsed.Round(time.Millisecond), answers, len(dials))
	stopHost(t, p)
}

func TestRunMissedGoingIdleAckStaysConnected(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{NeverAckIdle: true})
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--listen", listen, "--dormant-after", "200ms")...)
	ctx := testCtx(t)
	// The host waits relay.DefaultGoingIdleTimeout for the ack, stays
	// connected, and tries again --dormant-after later.
	n := 0
	if _, err := srv.WaitFrame(ctx, func(f relaytest.Frame) bool {
		if f.Type == "going_idle" && f.Conn == 1 {
			n++
		}
		return n == 2
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.stderr.waitFor(ctx, "staying connected", 1); err != nil {
		t.Fatal(err)
	}
	if code, rz := readyz(t, listen); code != http.StatusOK || rz.Dormant {
		t.Errorf("/readyz = %d %+v, want the host ready and connected", code, rz)
	}
	if srv.Dials() != 1 || len(srv.Closes()) != 0 {
		t.Errorf("dials %d, closes %v: want the first connection still up", srv.Dials(), srv.Closes())
	}
	stopHost(t, p)
}

func TestRunSIGTERMWhileDormantExitsPromptly(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--dormant-after", "200ms")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitDormantClose(t, ctx, srv, 1)
	if err := p.stderr.waitFor(ctx, "relay dormant: no dial until a wake", 1); err != nil {
		t.Fatal(err)
	}
	plugins := children(p.cmd.Process.Pid)
	if len(plugins) != 2 {
		t.Fatalf("%d plugins while dormant, want both up", len(plugins))
	}
	p.signal(t, syscall.SIGTERM)
	// Promptly: nothing is left to drain, so the whole shutdown is far
	// inside one second; 5 s tells that apart from a hang or a spent
	// budget.
	const prompt = 5 * time.Second
	select {
	case <-p.done:
	case <-time.After(prompt):
		t.Fatalf("relay-host did not exit within %s of SIGTERM while dormant:\n%s", prompt, p.stderr.String())
	}
	if p.code != 0 {
		t.Errorf("exit code = %d, want 0", p.code)
	}
	awaitGone(t, plugins)
	if srv.Dials() != 1 {
		t.Errorf("dials = %d: the shutdown dialed", srv.Dials())
	}
	if strings.Contains(p.stderr.String(), "no going_idle_ack") {
		t.Error("the shutdown tried going_idle on a dormant link")
	}
}

func TestRunSIGUSR1Wakes(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--dormant-after", "200ms")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitDormantClose(t, ctx, srv, 1)
	if err := p.stderr.waitFor(ctx, "relay dormant: no dial until a wake", 1); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGUSR1)
	if err := srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	stopHost(t, p)
}

// The scale-to-zero recipe: --dormant-exit ends the process once dormant,
// and the platform starts a new one when the connector calls the wake
// URL; the new process gets the buffer.
func TestRunDormantExitThenPlatformRestart(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	secret, plugins := secretFile(t), pluginsDir(t, false)
	args := runArgs(srv, secret, plugins, "--dormant-after", "200ms", "--dormant-exit")
	wakeCalls := make(chan struct{}, 16)
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/wake" || r.ContentLength > 0 || r.Header.Get("Authorization") != "" {
			t.Errorf("wake call %s %s (length %d, auth %q): want a payload-free, unsigned GET", r.Method, r.URL.Path, r.ContentLength, r.Header.Get("Authorization"))
		}
		wakeCalls <- struct{}{}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(platform.Close)
	srv.SetWakeURL(platform.URL + "/wake")

	p := start(t, nil, args...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	plugins1 := children(p.cmd.Process.Pid)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code once dormant = %d, want 0:\n%s", code, p.stderr.String())
	}
	awaitGone(t, plugins1)
	waitDormantClose(t, ctx, srv, 1)
	if !strings.Contains(p.stderr.String(), "--dormant-exit") {
		t.Errorf("the log does not say why it exited:\n%s", p.stderr.String())
	}

	// Work arrives: the connector buffers it and calls the wake URL; the
	// platform starts the gateway, which is served the buffer.
	id := srv.Enqueue(discordForward(golden(t, "slash_command_docs_cardsearch.json")))
	select {
	case <-wakeCalls:
	case <-ctx.Done():
		t.Fatal("the connector never called the wake URL")
	}
	p2 := start(t, nil, args...)
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code := p2.wait(t); code != 0 {
		t.Errorf("second process exit code = %d, want 0", code)
	}
	if !bytes.Contains([]byte(p2.stderr.String()), []byte("relay connected")) {
		t.Error("the second process never connected")
	}
}

// lossDormantAfter is the quiet period of the loss test's dormant fault:
// far longer than the gaps of its steady load, so the host goes dormant
// only when the load stops.
const lossDormantAfter = "300ms"

// dormantRig makes the loss rig's hosts go dormant when idle, and the
// connector call their /wake when it buffers for a dormant host.
func dormantRig(r *lossRig) {
	listen := freeAddr(r.t)
	r.extra = []string{"--dormant-after", lossDormantAfter, "--listen", listen}
	r.srv.SetWakeURL("http://" + listen + "/wake")
}

// dormantThenWake restarts the host with --dormant-after (the load goes
// on, buffered meanwhile), then twice stops the load until the host goes
// dormant and resumes it: the first forwards are buffered, the
// connector's wake call brings the host back, and the buffer is replayed.
func dormantThenWake(r *lossRig, host *process) {
	host.signal(r.t, syscall.SIGTERM)
	if code := host.wait(r.t); code != 0 {
		r.t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
	dormantRig(r)
	host = r.startHost()
	for range 2 {
		r.progress(50)
		r.stopProducing()
		conn := r.srv.Dials()
		waitDormantClose(r.t, r.ctx, r.srv, conn)
		wakes := len(r.srv.Wakes())
		r.produce()
		if err := r.srv.WaitWakes(r.ctx, wakes+1); err != nil {
			r.t.Fatal(err)
		}
		if err := r.srv.WaitHandshake(r.ctx, conn+1); err != nil {
			r.t.Fatalf("the wake did not bring the host back: %v\n%s", err, host.stderr.String())
		}
	}
}

func TestRunNoDormancyWhileADeliveryIsInProgress(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	got := make(chan struct{}, 1)
	release := make(chan struct{})
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(agent.Close)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--dormant-after", "200ms",
		"--agent", "webhook", "--agent-url", agent.URL)...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id := srv.Enqueue(discordForward(golden(t, "slash_command_docs_cardsearch.json")))
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the agent never got the event")
	}
	// The agent holds the event for four quiet periods: the host must not
	// go dormant with the delivery in progress.
	wctx, cancel := context.WithTimeout(ctx, 800*time.Millisecond)
	_, err := srv.WaitFrame(wctx, func(f relaytest.Frame) bool { return f.Type == "going_idle" })
	cancel()
	if err == nil {
		t.Fatal("going_idle sent while the agent was taking an event")
	}
	close(release)
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitDormantClose(t, ctx, srv, 1)
	stopHost(t, p)
}
