package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchReportsEveryFigure runs a small bench against the real binary
// and plugins and checks that every figure is there. It asserts nothing
// about speed: benchmarks are never timed tests.
func TestBenchReportsEveryFigure(t *testing.T) {
	t.Parallel()
	r := relayHost(t, "", "bench", "--plugins-dir", pluginsDir(t, false), "--count", "300", "--latency-count", "100",
		"--action-count", "400", "--action-window", "16", "--json")
	if r.code != 0 {
		t.Fatalf("bench exit %d:\n%s", r.code, r.stderr)
	}
	var rep struct {
		Mix      string `json:"mix"`
		Payloads int    `json:"payloads"`
		Raw      phase  `json:"raw"`
		EndToEnd phase  `json:"end_to_end"`
		Latency  *phase `json:"latency"`
		Ratio    float64
		Host     memory  `json:"host_memory"`
		Discord  memory  `json:"discord_plugin_memory"`
		UpMs     float64 `json:"plugins_up_ms"`
		ReadyMs  float64 `json:"host_ready_ms"`
		Recovery float64 `json:"recovery_ms"`
		Actions  *struct {
			Window     int         `json:"window"`
			Throughput actionPhase `json:"throughput"`
			Latency    actionPhase `json:"latency"`
		} `json:"actions"`
		Targets []struct {
			Name string `json:"name"`
			Got  string `json:"got"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("bench --json printed no JSON report: %v\n%s", err, r.stdout)
	}
	if rep.Raw.Forwards != 300 || rep.Raw.PerSecond <= 0 || rep.Raw.P99 <= 0 {
		t.Errorf("raw phase = %+v", rep.Raw)
	}
	if rep.EndToEnd.Forwards != 300 || rep.EndToEnd.FollowUps != 300 || rep.EndToEnd.PerSecond <= 0 || rep.EndToEnd.Max < rep.EndToEnd.P50 {
		t.Errorf("end-to-end phase = %+v; want 300 forwards, each followed up", rep.EndToEnd)
	}
	if rep.Latency == nil || rep.Latency.Forwards != 100 || rep.Latency.Offered <= 0 {
		t.Errorf("latency phase = %+v", rep.Latency)
	}
	if rep.Ratio <= 0 || rep.Host.RSS <= 0 || rep.Discord.RSS <= 0 || rep.Host.PID == rep.Discord.PID {
		t.Errorf("ratio %v, host %+v, plugin %+v", rep.Ratio, rep.Host, rep.Discord)
	}
	if rep.UpMs <= 0 || rep.ReadyMs < rep.UpMs || rep.Recovery <= 0 {
		t.Errorf("plugins up %v ms, ready %v ms, recovery %v ms", rep.UpMs, rep.ReadyMs, rep.Recovery)
	}
	if a := rep.Actions; a == nil || a.Window != 16 || a.Throughput.Actions != 400 || a.Throughput.PerSecond <= 0 ||
		a.Throughput.P99 <= 0 || a.Latency.Actions != 100 || a.Latency.Offered <= 0 || a.Throughput.CPU.Peer <= 0 {
		t.Errorf("actions phases = %+v", rep.Actions)
	}
	if len(rep.Targets) != 8 {
		t.Errorf("%d targets judged, want the eight of docs/performance.md", len(rep.Targets))
	}

	// The human form says the same, with the ratio.
	r = relayHost(t, "", "bench", "--plugins-dir", pluginsDir(t, false), "--count", "200", "--rate", "0", "--mix", "slash", "--action-count", "300")
	if r.code != 0 {
		t.Fatalf("bench exit %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"raw peer", "end to end", "ratio end to end / raw", "relay-plugin-discord", "plugins up", "kill -9",
		"agent API: POST /v1/actions send", "unbounded, 64 in flight", "agent API actions/s, 64 in flight", "target (docs/performance.md)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bench output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestBenchJetStreamReportsEveryFigure runs a small bench through the
// JetStream agent: the same figures, plus the echo agent's phase of the same
// run, the ratio to it, the embedded server's added RSS and the worker's
// count. It asserts nothing about speed.
func TestBenchJetStreamReportsEveryFigure(t *testing.T) {
	t.Parallel()
	r := relayHost(t, "", "bench", "--agent", "jetstream", "--plugins-dir", pluginsDir(t, false), "--count", "300", "--latency-count", "100", "--json")
	if r.code != 0 {
		t.Fatalf("bench exit %d:\n%s", r.code, r.stderr)
	}
	var rep struct {
		Agent     string  `json:"agent"`
		Raw       phase   `json:"raw"`
		EndToEnd  phase   `json:"end_to_end"`
		Latency   *phase  `json:"latency"`
		Ratio     float64 `json:"ratio"`
		Host      memory  `json:"host_memory"`
		Recovery  float64 `json:"recovery_ms"`
		JetStream *struct {
			Echo        phase   `json:"echo_end_to_end"`
			EchoHost    memory  `json:"echo_host_memory"`
			RatioToEcho float64 `json:"ratio_to_echo"`
			AddedRSS    float64 `json:"added_rss_mib"`
			Acked       int     `json:"worker_acked"`
		} `json:"jetstream"`
		Targets []struct {
			Name string `json:"name"`
			Want string `json:"want"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("bench --json printed no JSON report: %v\n%s", err, r.stdout)
	}
	j := rep.JetStream
	switch {
	case rep.Agent != "jetstream" || j == nil:
		t.Fatalf("agent %q, jetstream figures %v", rep.Agent, j)
	case rep.Raw.Forwards != 300 || rep.EndToEnd.Forwards != 300 || rep.EndToEnd.FollowUps != 300 || j.Echo.Forwards != 300 || j.Echo.FollowUps != 300:
		t.Errorf("raw %+v, end to end %+v, echo %+v; want 300 forwards each, followed up", rep.Raw, rep.EndToEnd, j.Echo)
	case rep.Latency == nil || rep.Latency.Forwards != 100:
		t.Errorf("latency phase %+v", rep.Latency)
	case rep.Ratio <= 0 || j.RatioToEcho <= 0 || rep.Host.RSS <= 0 || j.EchoHost.RSS <= 0 || rep.Host.PID == j.EchoHost.PID || rep.Recovery <= 0:
		t.Errorf("ratio %v, to echo %v, host %+v, echo host %+v, recovery %v", rep.Ratio, j.RatioToEcho, rep.Host, j.EchoHost, rep.Recovery)
	case j.Acked < 300+100:
		t.Errorf("the worker acked %d events, want every event of the measured phases", j.Acked)
	case len(rep.Targets) == 0 || rep.Targets[0].Want != "≥ 0.35":
		t.Errorf("targets %+v, want the JetStream ratio target first", rep.Targets)
	}
	if j != nil && j.AddedRSS != rep.Host.RSS-j.EchoHost.RSS {
		t.Errorf("added RSS %v, want %v − %v", j.AddedRSS, rep.Host.RSS, j.EchoHost.RSS)
	}
}

type phase struct {
	Forwards  int     `json:"forwards"`
	FollowUps int     `json:"follow_ups"`
	PerSecond float64 `json:"forwards_per_second"`
	Offered   float64 `json:"offered_per_second"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

type actionPhase struct {
	Actions   int     `json:"actions"`
	PerSecond float64 `json:"actions_per_second"`
	Offered   float64 `json:"offered_per_second"`
	P99       float64 `json:"p99_ms"`
	CPU       struct {
		Peer float64 `json:"peer"`
	} `json:"cpu_us_per_action"`
}

type memory struct {
	PID int     `json:"pid"`
	RSS float64 `json:"rss_mib"`
}

func TestBenchRefusesAnythingButLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:9000", "connector.example:443"} {
		r := relayHost(t, "", "bench", "--connector-addr", addr)
		if r.code != exitFailure || !strings.Contains(r.stderr, "loopback") {
			t.Errorf("bench --connector-addr %s: exit %d, stderr %q; want exit %d saying it runs on loopback only", addr, r.code, r.stderr, exitFailure)
		}
	}
	if r := relayHost(t, "", "bench", "--mix", "everything"); r.code != exitFailure || !strings.Contains(r.stderr, "--mix") {
		t.Errorf("bench --mix everything: exit %d, %q", r.code, r.stderr)
	}
	if r := relayHost(t, "", "bench", "--agent", "webhook"); r.code != exitFailure || !strings.Contains(r.stderr, "--agent") {
		t.Errorf("bench --agent webhook: exit %d, %q", r.code, r.stderr)
	}
	if r := relayHost(t, "", "bench", "--count", "0"); r.code != exitUsage {
		t.Errorf("bench --count 0: exit %d, want %d", r.code, exitUsage)
	}
}
