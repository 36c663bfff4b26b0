package pluginapi

import (
	"testing"
)

// The round trip through both directions of the wire (this package's and
// package launcher's) is tested in package launcher.

func TestValueToWireRejectsNonJSON(t *testing.T) {
	if _, err := valueToWire(make(chan int)); err == nil {
		t.Error("valueToWire(chan) succeeded, want an error")
	}
}

func TestResultToWireRefusesInvalidUTF8(t *testing.T) {
	bad := string([]byte{0xff, 'x'})
	for name, r := range map[string]Result{
		"reason":   Drop(bad),
		"text":     Handle(MessageEvent{Text: bad}),
		"source":   Handle(MessageEvent{Source: SessionSource{UserName: bad}}),
		"metadata": Handle(MessageEvent{Metadata: map[string]any{"k": []any{bad}}}),
	} {
		for _, enc := range []wireEncoding{{}, {metadataJSON: true}} {
			if _, err := enc.result(1, r); err == nil {
				t.Errorf("%s (metadata as JSON: %v): invalid UTF-8 accepted", name, enc.metadataJSON)
			}
		}
	}
}

func TestInfoToWireAddsCapabilitiesOnce(t *testing.T) {
	for _, have := range [][]string{nil, {"x"}, {"x", "forward-batches"}} {
		w := infoToWire(Info{Name: "n", Capabilities: have}, "forward-batches")
		n := 0
		for _, c := range w.GetCapabilities() {
			if c == "forward-batches" {
				n++
			}
		}
		if n != 1 || len(w.GetCapabilities()) < len(have) {
			t.Errorf("capabilities %v → %v, want each once with forward-batches", have, w.GetCapabilities())
		}
	}
}
