package host

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/relay"
)

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

// The host's per-forward log lines are clipped and rate-limited (issue 15,
// Medium 3: 4,000 frames with long fields wrote 262 MB of log, with single
// lines of 3 MiB, one WARN per failed forward).
func TestForwardLogLinesAreClippedAndRateLimited(t *testing.T) {
	var logs syncBuffer
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord"}}, Plugins: &fakePlugins{}, Agent: agent.Echo{},
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})})
	if err != nil {
		t.Fatal(err)
	}
	h.Attach(newFakeLink())
	t.Cleanup(h.Stop)
	long := strings.Repeat("p", 64<<10)
	const n = 1000
	for i := range n {
		f := fwd("crash", fmt.Sprintf("%s-%d", long, i))
		f.Path = long
		h.Passthrough(f)
	}
	if err := h.Wait(deadline(t)); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if lines := strings.Count(out, "forward failed"); lines == 0 || lines > 20 {
		t.Errorf("%d log lines for %d failed forwards, want a burst of about ten", lines, n)
	}
	if strings.Contains(out, long[:200]) {
		t.Errorf("a 64 KiB path or bufferId reached the log unclipped")
	}
	if len(out) > 64<<10 {
		t.Errorf("%d bytes of log for %d failed forwards", len(out), n)
	}
}
