package loadtest

import (
	"context"
	"fmt"
)

// ActionsReport is the agent API part of a bench run.
type ActionsReport struct {
	// Window is the number of actions in flight in the unbounded phase.
	Window int `json:"window"`
	// Throughput is the unbounded phase.
	Throughput ActionPhase `json:"throughput"`
	// Latency is the phase at the offered rate (nil with rate 0).
	Latency *ActionPhase `json:"latency,omitempty"`
}

// ActionPhase is one measured phase of agent API actions.
type ActionPhase struct {
	// Actions is the number of actions sent and answered 200.
	Actions int `json:"actions"`
	// Seconds is the phase's length, first request to last answer.
	Seconds float64 `json:"seconds"`
	// PerSecond is the throughput.
	PerSecond float64 `json:"actions_per_second"`
	// OfferedPerSecond is the rate actions were sent at (rated phase).
	OfferedPerSecond float64 `json:"offered_per_second,omitempty"`
	// Latency percentiles of request→answer, in milliseconds.
	P50ms  float64 `json:"p50_ms"`
	P90ms  float64 `json:"p90_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	// CPU is the CPU time per action of the bench (the HTTP client and
	// the load connector) and of the host.
	CPU CPUPerForward `json:"cpu_us_per_action"`
}

func actionPhaseOf(r Result, c CPUPerForward) ActionPhase {
	return ActionPhase{Actions: r.Acked, Seconds: r.Elapsed.Seconds(), PerSecond: r.PerSecond, OfferedPerSecond: r.OfferedPerSecond,
		P50ms: ms(r.Latency.P50), P90ms: ms(r.Latency.P90), P99ms: ms(r.Latency.P99), MaxMs: ms(r.Latency.Max), MeanMs: ms(r.Latency.Mean),
		CPU: CPUPerForward{Bench: c.Bench, Peer: c.Peer}}
}

// actionsPhases measures the agent API of the host under test: a warm-up,
// an unbounded phase with ActionWindow actions in flight, and a phase at
// the offered rate. A negative ActionCount skips them.
func (b *benchRun) actionsPhases(ctx context.Context) error {
	if b.cfg.ActionCount < 0 {
		return nil
	}
	addr, err := b.host.agentAPIAddr(ctx)
	if err != nil {
		return err
	}
	l := ActionLoad{URL: "http://" + addr, Token: b.args.agentAPIToken, Count: b.cfg.ActionCount, Window: b.cfg.ActionWindow}
	fmt.Fprintf(b.progress, "agent API: %d actions unbounded, %d in flight\n", l.Count, l.Window)
	warm := l
	warm.Count = min(warmupCount, l.Count)
	if _, err := RunActions(ctx, warm); err != nil {
		return fmt.Errorf("warm-up: %w\nhost log:\n%s", err, b.host.logTail())
	}
	meter := cpuMeter{peer: b.host.pid()}
	meter.start()
	res, err := RunActions(ctx, l)
	if err != nil {
		return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
	}
	rep := &ActionsReport{Window: l.Window, Throughput: actionPhaseOf(res, meter.stop(res.Acked))}
	if b.cfg.Rate > 0 {
		fmt.Fprintf(b.progress, "agent API: %d actions at %.0f/s\n", b.cfg.LatencyCount, b.cfg.Rate)
		rated := ActionLoad{URL: l.URL, Token: l.Token, Count: b.cfg.LatencyCount, Window: l.Window, Rate: b.cfg.Rate}
		meter.start()
		res, err := RunActions(ctx, rated)
		if err != nil {
			return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
		}
		p := actionPhaseOf(res, meter.stop(res.Acked))
		rep.Latency = &p
	}
	b.rep.Actions = rep
	return nil
}

// judgeActions judges the agent API phases against the performance targets
// (docs/performance.md).
func judgeActions(rep *Report, cfg BenchConfig) []Target {
	a := rep.Actions
	thr := Target{Name: fmt.Sprintf("agent API actions/s, %d in flight", DefaultActionWindow), Want: fmt.Sprintf("≥ %d", targetActions)}
	lat := Target{Name: fmt.Sprintf("p99 action at %d/s offered", targetP99Rate), Want: fmt.Sprintf("≤ %s", targetActionP99)}
	if a == nil {
		thr.Got, thr.Note = "not measured", "--action-count 0 skips the agent API phases"
		lat.Got, lat.Note = thr.Got, thr.Note
		return []Target{thr, lat}
	}
	thr.Got = fmt.Sprintf("%.0f", a.Throughput.PerSecond)
	thr.Met = a.Throughput.PerSecond >= targetActions
	if a.Window != DefaultActionWindow {
		thr.Note, thr.Met = fmt.Sprintf("measured with %d in flight", a.Window), false
	}
	if a.Latency == nil {
		lat.Got, lat.Note = "not measured", "--rate 0 skips the latency phases"
		return []Target{thr, lat}
	}
	lat.Got = fmt.Sprintf("%.2f ms", a.Latency.P99ms)
	lat.Met = a.Latency.P99ms <= ms(targetActionP99)
	if cfg.Rate != targetP99Rate {
		lat.Note, lat.Met = fmt.Sprintf("measured at %.0f/s", cfg.Rate), false
	}
	return []Target{thr, lat}
}
