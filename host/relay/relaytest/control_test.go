package relaytest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/internal/devconnector"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// post sends a control-plane request and returns the status and the
// decoded answer.
func post(t *testing.T, s *relaytest.Server, path, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestControlDefaultAnswers(t *testing.T) {
	s := startServer(t, relaytest.Options{GatewayID: "gw-1", Secrets: []string{secret}})

	code, ans := post(t, s, relaytest.EnrollPath, "caller", `{"enrollmentToken":"e1","gatewayId":"gw-1"}`)
	if code != 200 || ans["secret"] != secret || ans["gatewayId"] != "gw-1" || ans["deliveryKey"] == "" {
		t.Fatalf("enroll = %d %v", code, ans)
	}
	code, ans = post(t, s, relaytest.ProvisionPath, "caller", `{"gatewayId":"gw-1","platform":"discord","botId":"1","gatewayEndpoint":"","routeKeys":[]}`)
	if code != 200 || ans["secret"] != secret {
		t.Fatalf("first provision = %d %v, want the secret", code, ans)
	}
	code, ans = post(t, s, relaytest.ProvisionPath, "caller", `{"gatewayId":"gw-1","platform":"twilio","botId":"","gatewayEndpoint":"","routeKeys":[]}`)
	if _, has := ans["secret"]; code != 200 || has || ans["secretIssued"] != false {
		t.Fatalf("second provision = %d %v, want secretIssued false and no secret", code, ans)
	}
	good := relay.MakeUpgradeToken("gw-1", secret, time.Now())
	if code, _ := post(t, s, relaytest.PolicyPath, good, `{"platform":"discord"}`); code != 200 {
		t.Fatalf("policy with an upgrade token = %d", code)
	}
	for name, bearer := range map[string]string{"none": "", "wrong secret": relay.MakeUpgradeToken("gw-1", "other", time.Now()), "wrong gateway": relay.MakeUpgradeToken("gw-2", secret, time.Now())} {
		if code, _ := post(t, s, relaytest.PolicyPath, bearer, `{"platform":"discord"}`); code != 401 {
			t.Errorf("policy with %s bearer = %d, want 401", name, code)
		}
	}

	reqs := s.ControlRequests(relaytest.ProvisionPath)
	if len(reqs) != 2 || reqs[0].Bearer() != "caller" || reqs[0].JSON["platform"] != "discord" ||
		!reflect.DeepEqual(reqs[0].Keys, []string{"gatewayId", "platform", "botId", "gatewayEndpoint", "routeKeys"}) {
		t.Fatalf("recorded provisions = %+v", reqs)
	}
	if n := len(s.ControlRequests(relaytest.PolicyPath)); n != 4 {
		t.Fatalf("recorded policies = %d, want 4", n)
	}
}

func TestControlProgrammedAnswersAndHang(t *testing.T) {
	s := startServer(t, relaytest.Options{})
	s.SetControl(relaytest.EnrollPath, func(r relaytest.ControlRequest) relaytest.ControlReply {
		if r.JSON["enrollmentToken"] == "used" {
			return relaytest.JSONReply(403, map[string]any{"error": "token already used"})
		}
		return relaytest.ControlReply{Status: 200, Body: "not json"}
	})
	if code, ans := post(t, s, relaytest.EnrollPath, "c", `{"enrollmentToken":"used","gatewayId":"g"}`); code != 403 || ans["error"] != "token already used" {
		t.Fatalf("programmed 403 = %d %v", code, ans)
	}
	if code, ans := post(t, s, relaytest.EnrollPath, "c", `{"enrollmentToken":"x","gatewayId":"g"}`); code != 200 || ans != nil {
		t.Fatalf("programmed non-JSON = %d %v", code, ans)
	}
	s.SetControl(relaytest.EnrollPath, nil)
	if code, ans := post(t, s, relaytest.EnrollPath, "c", `{"enrollmentToken":"x","gatewayId":"g"}`); code != 200 || ans["secret"] != relaytest.DefaultIssuedSecret {
		t.Fatalf("default restored = %d %v", code, ans)
	}

	s.SetControl(relaytest.ProvisionPath, func(relaytest.ControlRequest) relaytest.ControlReply { return relaytest.ControlReply{Hang: true} })
	ctx, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+relaytest.ProvisionPath, strings.NewReader(`{}`))
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := cl.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a hanging endpoint answered %d", resp.StatusCode)
	}
	if _, err := s.WaitControl(ctxT(t), relaytest.ProvisionPath, 1); err != nil {
		t.Fatal(err)
	}
}

// wakeTarget is a gateway's /wake: it records each call.
type wakeTarget struct {
	mu      sync.Mutex
	calls   []*http.Request
	changed notify.Signal
}

func (w *wakeTarget) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.calls = append(w.calls, r)
	w.mu.Unlock()
	w.changed.Notify()
	rw.WriteHeader(http.StatusAccepted)
}

func (w *wakeTarget) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

func TestWakeCallsAfterGoingIdleOnly(t *testing.T) {
	target := &wakeTarget{}
	gw := httptest.NewServer(target)
	t.Cleanup(gw.Close)
	s := startServer(t, relaytest.Options{})
	s.SetWakeURL(gw.URL + "/wake")

	// Not idle: an item buffered while no gateway is connected is simply
	// held (a gateway that never went idle is not woken).
	s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/before"})
	c, _, err := dial(t, s, relaytest.RelayPath, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"hello","platform":"discord","botId":""}`)
	c.next() // descriptor
	c.next() // the backlog
	c.send(`{"type":"going_idle"}`)
	c.next() // going_idle_ack
	if len(s.Wakes()) != 0 || target.count() != 0 {
		t.Fatal("woken before anything was buffered for the idle gateway")
	}

	// Idle: a burst of buffered items costs one call now and at most one
	// more a WakeInterval later.
	began := time.Now()
	for range 50 {
		s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/while-idle"})
	}
	if err := s.WaitWakes(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	w := s.Wakes()[0]
	if w.Status != http.StatusAccepted || w.Err != nil || w.URL != gw.URL+"/wake" {
		t.Fatalf("wake = %+v", w)
	}
	s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/while-idle-2"})
	if err := s.WaitWakes(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	ws := s.Wakes()
	if gap := ws[1].At.Sub(ws[0].At); gap < devconnector.WakeInterval {
		t.Errorf("two wake calls %s apart, want at least %s", gap, devconnector.WakeInterval)
	}
	if len(ws) != 2 {
		t.Errorf("%d wake calls for 51 buffered items in %s, want 2", len(ws), time.Since(began))
	}
	target.mu.Lock()
	for _, r := range target.calls {
		if r.Method != http.MethodGet || r.ContentLength > 0 || r.Header.Get("Authorization") != "" {
			t.Errorf("wake call %s (length %d, auth %q): want a payload-free, unsigned GET", r.Method, r.ContentLength, r.Header.Get("Authorization"))
		}
	}
	target.mu.Unlock()

	// A handshake ends buffered-only delivery: no more wakes, not even
	// the one a last buffered item asked for while the interval ran.
	n := len(s.Wakes())
	s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/just-before-the-handshake"})
	c2, _, err := dial(t, s, relaytest.RelayPath, "")
	if err != nil {
		t.Fatal(err)
	}
	c2.send(`{"type":"hello","platform":"discord","botId":""}`)
	c2.next()
	s.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/live"})
	for f := c2.next(); f.Forward == nil || f.Forward.Path != "/live"; f = c2.next() {
	}
	ctx, cancel := context.WithTimeout(ctxT(t), devconnector.WakeInterval+500*time.Millisecond)
	defer cancel()
	if err := s.WaitWakes(ctx, n+1); err == nil {
		t.Error("woken after the handshake")
	}
}
