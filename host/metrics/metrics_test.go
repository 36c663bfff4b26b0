package metrics

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"

	"github.com/relayhost/relay-host/host/relay"
)

// labelValues returns every label value of every series in m's registry,
// by label name.
func labelValues(t *testing.T, m *Metrics) map[string][]string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				out[lp.GetName()] = append(out[lp.GetName()], lp.GetValue())
			}
		}
	}
	return out
}

// Connector-chosen platforms never become label values (issue 15, High 0
// and Medium 3): an invalid UTF-8 platform made the Prometheus client panic
// and the host exit, and 3,000 long platform names made a 262 MB /metrics
// page. Only the platforms the gateway named are labels; the rest count as
// "unknown".
func TestPlatformLabelsAreOnlyThoseTheGatewayNamed(t *testing.T) {
	m := New()
	m.AllowPlatforms("discord", "twilio")
	for _, p := range []string{"discord", "[\"discord\",\"\xff\"]", "\xff", strings.Repeat("p", 4096), "slack", "", "unknown"} {
		m.ForwardOutcome(p, "handled")
		m.ForwardLatency(p, time.Millisecond)
	}
	for i := range 3000 {
		m.ForwardOutcome(strings.Repeat("x", 100)+string(rune('a'+i%26))+strings.Repeat("y", i%50), "failed")
	}
	for _, v := range labelValues(t, m)["platform"] {
		if v != "discord" && v != UnknownPlatform {
			t.Errorf("platform label %.40q, want discord or %s", v, UnknownPlatform)
		}
	}
	var c dto.Metric
	if err := m.forwards.WithLabelValues(UnknownPlatform, "failed").Write(&c); err != nil {
		t.Fatal(err)
	}
	if got := c.GetCounter().GetValue(); got != 3000 {
		t.Errorf("unknown/failed = %v, want 3000", got)
	}
}

// Every other label is valid UTF-8 and short, whatever it is given: a
// plugin's name, a frame type, an agent's op.
func TestLabelsAreAlwaysValidUTF8(t *testing.T) {
	m := New()
	bad := "op\xff" + strings.Repeat("ö", 100)
	m.PluginUp(bad, true)
	m.PluginRestarted(bad)
	m.FrameIn(bad)
	m.FrameOut(bad)
	m.BadFrame(bad)
	m.Shed(bad)
	m.Outbound(bad, relay.OutboundResult{Success: true})
	for name, vs := range labelValues(t, m) {
		for _, v := range vs {
			if !utf8.ValidString(v) || len(v) > maxLabel {
				t.Errorf("label %s = %q: not short valid UTF-8", name, v)
			}
			if name == "op" && v != "other" {
				t.Errorf("op label %q for an unknown op, want other", v)
			}
		}
	}
}
