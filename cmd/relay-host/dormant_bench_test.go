package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/loadtest"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// BenchmarkDormantWake measures scale to zero through the real binary and
// plugins: the host (run --dormant-after) goes dormant, a forward is
// buffered, the connector calls the host's /wake, and the forward is
// replayed, converted by the Discord plugin, handed to the echo agent and
// acked. One op is one such wake: from the enqueue to the ack.
//
//   - "right-after-the-close": the forward arrives as soon as the host is
//     dormant, so the wake's dial waits out the dormant cadence (one dial
//     per second): the upper bound, the target being ≤ 1.5 s.
//   - "dormant-1s": the host has been dormant for a second, so the wake
//     dials at once: the usual case.
//
// It also reports the host's and the Discord plugin's resident sets while
// dormant. Run: go test -run '^$' -bench DormantWake -benchtime 5x ./cmd/relay-host/
func BenchmarkDormantWake(b *testing.B) {
	for _, bc := range []struct {
		name string
		hold time.Duration // how long the host stays dormant before the forward
	}{
		{"right-after-the-close", 0},
		{"dormant-1s", time.Second},
	} {
		b.Run(bc.name, func(b *testing.B) { benchDormantWake(b, bc.hold) })
	}
}

func benchDormantWake(b *testing.B, hold time.Duration) {
	srv := relaytest.New(relaytest.Options{GatewayID: testGatewayID, Secrets: []string{testSecret}})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	dir := b.TempDir()
	secret := dir + "/secret"
	if err := os.WriteFile(secret, []byte(testSecret), 0o600); err != nil {
		b.Fatal(err)
	}
	ln := freeAddrTB(b)
	srv.SetWakeURL("http://" + ln + "/wake")
	cmd := exec.Command(bins.relayHost, "run", "--connector", srv.URL(), "--gateway-id", testGatewayID, "--secret-file", secret,
		"--identity", "discord:bot-1", "--agent", "echo", "--plugins-dir", bins.plugins, "--log-level", "info",
		"--listen", ln, "--dormant-after", "200ms")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	body := goldenTB(b, "slash_command_docs_cardsearch.json")

	var hostRSS, pluginRSS int64
	var took []time.Duration
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		// Dormant: the connection closed for dormancy and the client
		// waiting for a wake.
		conn := i + 1 // each wake is one dial
		if err := srv.WaitHandshake(ctx, conn); err != nil {
			b.Fatal(err)
		}
		info, err := srv.WaitClosed(ctx, conn)
		if err != nil || info.Reason != relay.DormantCloseReason {
			b.Fatalf("connection %d: %+v %v", conn, info, err)
		}
		if err := logs.waitFor(ctx, "relay dormant: no dial until a wake", i+1); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			hostRSS, pluginRSS = dormantRSS(b, cmd.Process.Pid)
		}
		if hold > 0 {
			t := time.NewTimer(hold) // the scenario: dormant this long
			<-t.C
		}
		b.StartTimer()
		began := time.Now()
		id := srv.Enqueue(discordForward(body))
		if err := srv.WaitAcked(ctx, id); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(began))
		b.StopTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(took[len(took)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(float64(hostRSS)/(1<<20), "host-dormant-RSS-MiB")
	b.ReportMetric(float64(pluginRSS)/(1<<20), "discord-dormant-RSS-MiB")
}

// dormantRSS reads the host's and its Discord plugin's resident sets.
func dormantRSS(b *testing.B, pid int) (host, plugin int64) {
	b.Helper()
	m, err := loadtest.ReadMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	for _, child := range children(pid) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", child))
		if err != nil || !strings.HasSuffix(exe, "relay-plugin-discord") {
			continue
		}
		pm, err := loadtest.ReadMemory(child)
		if err != nil {
			b.Fatal(err)
		}
		plugin = pm.RSS
	}
	return m.RSS, plugin
}

// freeAddrTB is freeAddr for a benchmark.
func freeAddrTB(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// goldenTB is golden for a benchmark.
func goldenTB(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile("../../plugins/discord/convert/testdata/golden/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
