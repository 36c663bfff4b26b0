package main

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/loadtest"
)

// floodRSSLimit is the host's resident-memory target (docs/performance.md),
// which a flood must not break: the host holds back the connector instead
// of reading ahead without bound (host/admission.go).
const floodRSSLimit = 64 << 20

// floodDuration is how long the flood pushes: 30 s, the length of the
// probe that drove the host to 651 MiB; 5 s under -short.
func floodDuration() time.Duration {
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// TestFloodStaysWithinMemoryAndLosesNothing pushes the heaviest stream of
// buffered Discord forwards the load connector can: no in-flight window at
// all, each forward written as soon as the socket takes it, for
// floodDuration, through the real binary, the real Discord plugin and the
// echo agent. The host must stay under floodRSSLimit (VmHWM, the peak, from
// /proc) and, once the flood stops, every forward must be acked and
// followed up: held back, never dropped. The load connector keeps no
// durable buffer, so a forward the host failed to take would never be
// acked and the run would stall.
func TestFloodStaysWithinMemoryAndLosesNothing(t *testing.T) {
	t.Parallel()
	payloads, err := loadtest.Payloads(loadtest.MixAll)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := loadtest.Listen(loadtest.Config{GatewayID: testGatewayID, Secret: testSecret, BotID: "bot-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	listen := freeAddr(t)
	// The product binary without the race detector: its shadow memory
	// would multiply the figure this test checks.
	host := startCmd(t, exec.Command(bins.memoryHost, "run", "--connector", conn.URL(), "--gateway-id", testGatewayID, "--secret-file", secretFile(t),
		"--identity", "discord:bot-1", "--agent", "echo", "--plugins-dir", pluginsDir(t, false), "--log-level", "info",
		"--listen", listen), nil)
	ctx, cancel := context.WithTimeout(t.Context(), floodDuration()+3*scenarioTimeout)
	defer cancel()
	if err := conn.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, host.stderr.String())
	}
	pid := host.cmd.Process.Pid

	// Sample the host's memory while the flood runs; VmHWM keeps the peak
	// between samples.
	var (
		mu      sync.Mutex
		samples []string
	)
	done := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			m, err := loadtest.ReadMemory(pid)
			if err != nil {
				continue
			}
			_, metrics := get(t, "http://"+listen+"/metrics")
			mu.Lock()
			samples = append(samples, fmt.Sprintf("rss %.1f MiB, peak %.1f MiB, %s", mib(m.RSS), mib(m.Peak), inFlightOf(metrics)))
			mu.Unlock()
		}
	}()
	res, err := conn.Run(ctx, loadtest.Load{Duration: floodDuration(), Window: 1 << 30, Payloads: payloads,
		FollowUps: true, StallTimeout: scenarioTimeout})
	close(done)
	sampling.Wait()
	mem, merr := loadtest.ReadMemory(pid)
	mu.Lock()
	t.Logf("memory and work in flight, once a second:\n  %s", strings.Join(samples, "\n  "))
	mu.Unlock()
	if err != nil {
		_ = host.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, for the failure
		host.wait(t)
		t.Fatalf("flood: %v\nhost log:\n%s\nhost goroutines by where they wait:\n%s", err,
			tail(strings.Split(host.stderr.String(), "SIGQUIT")[0], 40), goroutineSummary(host.stderr.String()))
	}
	if merr != nil {
		t.Fatal(merr)
	}
	drain := res.Elapsed - floodDuration()
	t.Logf("flood: %d forwards in %s (%.0f/s offered, %.0f/s acked), all acked and followed up %s after the flood stopped; host RSS %.1f MiB, peak %.1f MiB",
		res.Sent, floodDuration(), res.OfferedPerSecond, res.PerSecond, drain.Round(time.Millisecond), mib(mem.RSS), mib(mem.Peak))
	if mem.Peak >= floodRSSLimit {
		t.Errorf("host peak RSS %.1f MiB, want under %d MiB", mib(mem.Peak), floodRSSLimit>>20)
	}
	if res.Acked != res.Sent || res.FollowUps < res.Sent {
		t.Errorf("%d forwards sent, %d acked, %d followed up", res.Sent, res.Acked, res.FollowUps)
	}
	if n := strings.Count(host.stderr.String(), "delivery not started"); n > 0 {
		t.Errorf("the host shed forwards during a flood from a single platform (%d log lines): it must hold the connector back instead", n)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// inFlightOf picks the in-flight gauges out of a /metrics page.
func inFlightOf(metrics string) string {
	var out []string
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "relay_host_deliveries_in_flight") || strings.HasPrefix(line, "go_goroutines") ||
			strings.HasPrefix(line, "go_memstats_heap_inuse_bytes") || strings.HasPrefix(line, "go_memstats_stack_inuse_bytes") || strings.HasPrefix(line, "go_memstats_sys_bytes") {
			out = append(out, line)
		}
	}
	return strings.Join(out, ", ")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// goroutineSummary counts the goroutines of a Go traceback (a SIGQUIT dump)
// by state and by the first frame of relay-host's own code in each stack.
func goroutineSummary(dump string) string {
	counts := map[string]int{}
	for _, g := range strings.Split(dump, "\ngoroutine ")[1:] {
		lines := strings.Split(g, "\n")
		state := lines[0]
		if i := strings.Index(state, "["); i >= 0 {
			state = strings.SplitN(state[i+1:], ",", 2)[0]
			state = strings.TrimSuffix(state, "]:")
		}
		var frames []string
		for _, l := range lines[1:] {
			if strings.Contains(l, "relay-host/") && !strings.HasPrefix(l, "\t") && len(frames) < 3 {
				if i := strings.LastIndex(l, "("); i > 0 {
					l = l[:i]
				}
				frames = append(frames, strings.TrimPrefix(l, "github.com/relayhost/relay-host/"))
			}
		}
		where := strings.Join(frames, " < ")
		counts[state+" @ "+where]++
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%6d  %s", n, k))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return strings.Join(out, "\n")
}
