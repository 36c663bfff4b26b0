package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 20 * time.Second // includes building the binary on a loaded machine

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--gateway-id is required"},
		{[]string{"--gateway-id", "gw", "--nats-token-file", "a", "--nats-creds", "b"}, "not both"},
		{[]string{"--gateway-id", "gw", "--nats-token-file", filepath.Join(t.TempDir(), "missing")}, "--nats-token-file"},
	} {
		if err := run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// gatedCaller answers every reply with success once `need` replies are in
// flight at the same time: with --concurrency 1, that proves `need` worker
// processes are taking events side by side.
type gatedCaller struct {
	need int

	mu       sync.Mutex
	inflight int
	replies  map[string][]string
	gate     chan struct{}
	opened   bool
}

func (c *gatedCaller) Call(ctx context.Context, _ string, body []byte) (int, map[string]any) {
	var req struct {
		EventID string `json:"event_id"`
		Content string `json:"content"`
	}
	json.Unmarshal(body, &req)
	c.mu.Lock()
	c.replies[req.EventID] = append(c.replies[req.EventID], req.Content)
	c.inflight++
	if c.inflight >= c.need && !c.opened {
		c.opened = true
		close(c.gate)
	}
	c.mu.Unlock()
	select {
	case <-c.gate:
		return 200, map[string]any{"success": true}
	case <-ctx.Done():
		return 503, map[string]any{"success": false, "error": "stopped"}
	}
}

func (c *gatedCaller) replied() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.replies)
}

// Three copies of the worker binary, as the README runs them, share the
// events of a relay-host's embedded server.
func TestThreeWorkerProcessesShareEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	bin := filepath.Join(t.TempDir(), "jetstream-echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	e, err := js.StartEmbedded(js.EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(ctx)
	nc, err := js.Connect(js.ConnectConfig{URLs: []string{e.ClientURL()}, Token: e.Token()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.EnsureStream(ctx, p.JetStream(), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	caller := &gatedCaller{need: 3, replies: map[string][]string{}, gate: make(chan struct{})}
	stop, err := js.ServeActions(ctx, nc, "gw", caller)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	const events = 30
	for i := range events {
		id := fmt.Sprintf("fwd-%d/0", i)
		if _, err := p.Publish(ctx, id, "discord", []byte(fmt.Sprintf(`{"event_id":%q,"text":"hi %d"}`, id, i))); err != nil {
			t.Fatal(err)
		}
	}
	type proc struct {
		cmd    *exec.Cmd
		stderr *syncBuffer
	}
	var procs []proc
	for range 3 {
		stderr := &syncBuffer{}
		cmd := exec.Command(bin, "--nats-url", e.ClientURL(), "--nats-token-file", e.TokenFile(), "--gateway-id", "gw", "--concurrency", "1")
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{cmd, stderr})
		defer cmd.Process.Kill()
	}
	for caller.replied() < events {
		if ctx.Err() != nil {
			for i, p := range procs {
				t.Logf("worker %d:\n%s", i, p.stderr)
			}
			t.Fatalf("%d of %d events replied", caller.replied(), events)
		}
		time.Sleep(10 * time.Millisecond) // polling a count, bounded by ctx
	}
	acked := regexp.MustCompile(`msg=stopped acked=(\d+)`)
	total := 0
	for i, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("worker %d: %v\n%s", i, err, p.stderr)
			}
		case <-ctx.Done():
			t.Fatalf("worker %d did not stop on SIGTERM", i)
		}
		m := acked.FindStringSubmatch(p.stderr.String())
		if m == nil {
			t.Fatalf("worker %d printed no count:\n%s", i, p.stderr)
		}
		n, _ := strconv.Atoi(m[1])
		if n == 0 {
			t.Errorf("worker %d acked no event", i)
		}
		t.Logf("worker %d acked %d", i, n)
		total += n
	}
	if total != events {
		t.Fatalf("workers acked %d events together, want %d", total, events)
	}
	caller.mu.Lock()
	defer caller.mu.Unlock()
	for i := range events {
		id := fmt.Sprintf("fwd-%d/0", i)
		if got := caller.replies[id]; len(got) != 1 || got[0] != fmt.Sprintf("echo: hi %d", i) {
			t.Errorf("%s replies %q", id, got)
		}
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
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
