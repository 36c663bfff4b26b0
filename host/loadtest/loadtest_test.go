package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// goldenDir holds the Discord goldens the payloads are copied from.
const goldenDir = "../../plugins/discord/convert/testdata/golden"

func TestPayloadsMatchGoldens(t *testing.T) {
	all, err := Payloads(MixAll)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 10 {
		t.Fatalf("%d payloads embedded, want the handled goldens", len(all))
	}
	for _, p := range all {
		b, err := os.ReadFile(filepath.Join(goldenDir, p.Name+".json"))
		if err != nil {
			t.Fatalf("payload %s has no golden: %v", p.Name, err)
		}
		if !bytes.Equal(b, p.Body) {
			t.Errorf("payload %s differs from its golden: copy it again", p.Name)
		}
		// Each must earn exactly one follow_up with the echo agent.
		var want struct {
			Disposition string `json:"disposition"`
			Events      []struct {
				Text string `json:"text"`
			} `json:"events"`
		}
		wb, err := os.ReadFile(filepath.Join(goldenDir, p.Name+".want.json"))
		if err != nil || json.Unmarshal(wb, &want) != nil {
			t.Fatalf("payload %s: unreadable expectation: %v", p.Name, err)
		}
		if want.Disposition != "handled" || len(want.Events) != 1 || want.Events[0].Text == "" {
			t.Errorf("payload %s does not convert to exactly one event with text", p.Name)
		}
	}
	slash, err := Payloads(MixSlash)
	if err != nil {
		t.Fatal(err)
	}
	if len(slash) == 0 || len(slash) >= len(all) {
		t.Fatalf("%d slash payloads of %d", len(slash), len(all))
	}
	for _, p := range slash {
		if !strings.HasPrefix(p.Name, "slash_") {
			t.Errorf("slash mix holds %s", p.Name)
		}
	}
	if _, err := Payloads("everything"); err == nil {
		t.Error("an unknown mix was accepted")
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.2:9000", true},
		{"[::1]:0", true},
		{"localhost:8080", true},
		{"0.0.0.0:0", false},
		{"10.0.0.1:80", false},
		{"connector.example:443", false},
		{":8080", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		err := CheckLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
		if err != nil && tt.addr != "127.0.0.1" && tt.addr != ":8080" && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("CheckLoopback(%q) error %q does not say why", tt.addr, err)
		}
	}
	if _, err := Listen(Config{Addr: "0.0.0.0:0", GatewayID: "g", Secret: "s"}); err == nil {
		t.Error("Listen on a non-loopback address succeeded")
	}
}

func TestSummarise(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := summarise(s)
	want := Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
		Max: 100 * time.Millisecond, Mean: 50500 * time.Microsecond}
	if got != want {
		t.Errorf("summarise = %+v, want %+v", got, want)
	}
	if (summarise(nil) != Latency{}) {
		t.Error("summarise of nothing is not zero")
	}
}

func TestProcReadings(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("ReadMemory(self) = %+v, %v", m, err)
	}
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMemory(-1); err == nil {
		t.Error("ReadMemory(-1) succeeded")
	}
}

// testTimeout bounds each phase of these tests; a healthy one takes well
// under a second.
const testTimeout = 30 * time.Second

func TestConnectorAgainstTheRawPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := Listen(Config{GatewayID: benchGatewayID, Secret: "s3cret", BotID: benchBotID})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Run(ctx, Load{Count: 1}); err == nil {
		t.Error("Run with no payloads succeeded")
	}
	p, _ := Payloads(MixSlash)
	if _, err := conn.Run(ctx, Load{Count: 10, Payloads: p}); !errors.Is(err, ErrNoPeer) {
		t.Errorf("Run with no peer: %v, want ErrNoPeer", err)
	}
	if _, err := StartRawPeer(ctxWithTimeout(t, time.Second), conn.URL(), benchGatewayID, "wrong secret", benchBotID); err == nil {
		t.Error("a peer with the wrong secret completed the handshake")
	}
	raw, err := StartRawPeer(ctx, conn.URL(), benchGatewayID, "s3cret", benchBotID)
	if err != nil {
		t.Fatal(err)
	}
	closeRaw := sync.OnceFunc(raw.Close)
	defer closeRaw()
	for _, l := range []Load{
		{Count: 500, Window: 16, Payloads: p},
		{Count: 100, Rate: 2000, Payloads: p},
		{Duration: 50 * time.Millisecond, Payloads: p},
	} {
		res, err := conn.Run(ctx, l)
		if err != nil {
			t.Fatalf("Run(%+v): %v", l, err)
		}
		if res.Sent == 0 || res.Acked != res.Sent || res.FollowUps != 0 || res.PerSecond <= 0 ||
			res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
			t.Errorf("Run(%+v) = %+v", l, res)
		}
		if l.Count > 0 && res.Sent != l.Count {
			t.Errorf("sent %d, want %d", res.Sent, l.Count)
		}
	}
	// Recovery measures from the kill to the first ack.
	d, err := conn.Recovery(ctx, p[0], time.Millisecond, testTimeout, func() error { return nil })
	if err != nil || d <= 0 {
		t.Errorf("Recovery = %v, %v", d, err)
	}
	if _, err := conn.Recovery(ctx, p[0], time.Millisecond, testTimeout, func() error { return errors.New("no such process") }); err == nil {
		t.Error("Recovery with a failing kill succeeded")
	}
	// The bench waits for the raw peer to leave before it starts the host.
	closeRaw()
	if err := conn.WaitGone(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.WaitReady(ctxWithTimeout(t, 20*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady with the peer gone = %v, want the deadline", err)
	}
}

func ctxWithTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
