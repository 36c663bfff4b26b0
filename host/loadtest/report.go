package loadtest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as tables for a human.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "relay-host bench: mix %q (%d Discord interactions, mean body %d bytes), window %d\n\n",
		r.Mix, r.Payloads, r.MeanBodyBytes, r.Window)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tforwards\tfollow-ups\tseconds\tforwards/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	row := func(name string, p Phase) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			name, p.Forwards, p.FollowUps, p.Seconds, p.PerSecond, p.P50ms, p.P90ms, p.P99ms, p.MaxMs)
	}
	row("raw peer (decode + ack)", r.Raw)
	row("end to end, unbounded", r.EndToEnd)
	if r.Latency != nil {
		row(fmt.Sprintf("end to end, %.0f/s offered", r.Latency.OfferedPerSecond), *r.Latency)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nratio end to end / raw: %.2f\n", r.Ratio)
	if j := r.JetStream; j != nil {
		fmt.Fprintf(&b, "agent: jetstream (embedded NATS server, file store; an echo worker in the bench process, %d events at once, acked %d)\n",
			j.WorkerConcurrency, j.WorkerAcked)
		fmt.Fprintf(&b, "same phase with the echo agent: %.0f forwards/s, p99 %.2f ms; jetstream / echo: %.2f\n",
			j.EchoEndToEnd.PerSecond, j.EchoEndToEnd.P99ms, j.RatioToEcho)
		fmt.Fprintf(&b, "RSS added by the embedded server: %.1f MiB (host %.1f MiB with jetstream, %.1f MiB with echo)\n",
			j.AddedRSSMiB, r.Host.RSSMiB, j.EchoHost.RSSMiB)
	}
	fmt.Fprintf(&b, "CPU µs per forward: raw: connector %.1f, raw peer %.1f; end to end: connector %.1f, host %.1f, Discord plugin %.1f\n\n",
		r.Raw.CPU.Bench, r.Raw.CPU.Peer, r.EndToEnd.CPU.Bench, r.EndToEnd.CPU.Peer, r.EndToEnd.CPU.Discord)

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "memory after the end-to-end phase\tpid\tRSS MiB\tpeak MiB\t")
	for _, m := range []struct {
		name string
		m    MemoryReport
	}{{"relay-host run", r.Host}, {discordPlugin, r.Discord}, {twilioPlugin, r.Twilio}} {
		if m.m.PID == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t\n", m.name, m.m.PID, m.m.RSSMiB, m.m.PeakMiB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nplugins up (host log): %.0f ms; spawn to handshake: %.0f ms\n", r.PluginsUpMs, r.HostReadyMs)
	fmt.Fprintf(&b, "kill -9 %s to serving again: %.0f ms\n\n", discordPlugin, r.RecoveryMs)
	if err := r.writeActions(&b); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target (docs/performance.md)\twant\tgot\t\t")
	for _, t := range r.Targets {
		verdict := "met"
		if !t.Met {
			verdict = "MISSED"
		}
		note := ""
		if t.Note != "" {
			note = "(" + t.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, verdict, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeActions prints the agent API phases.
func (r *Report) writeActions(b *strings.Builder) error {
	a := r.Actions
	if a == nil {
		return nil
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "agent API: POST /v1/actions send\tactions\tseconds\tactions/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	row := func(name string, p ActionPhase) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			name, p.Actions, p.Seconds, p.PerSecond, p.P50ms, p.P90ms, p.P99ms, p.MaxMs)
	}
	row(fmt.Sprintf("unbounded, %d in flight", a.Window), a.Throughput)
	if a.Latency != nil {
		row(fmt.Sprintf("%.0f/s offered", a.Latency.OfferedPerSecond), *a.Latency)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(b, "CPU µs per action (unbounded): bench (HTTP client and connector) %.1f, host %.1f\n\n",
		a.Throughput.CPU.Bench, a.Throughput.CPU.Peer)
	return nil
}
