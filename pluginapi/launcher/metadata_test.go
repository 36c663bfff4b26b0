package launcher

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
)

// oldHostView is a plugin's gRPC service as a host that predates
// metadata-json sees it: the plugin is told of no host capability.
type oldHostView struct{ pluginv1.PluginServer }

func (o oldHostView) Info(ctx context.Context, req *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	return o.PluginServer.Info(ctx, &pluginv1.InfoRequest{HostVersion: req.GetHostVersion()})
}

// metadataThrough runs one forward through an in-process plugin that
// answers with md as its event's metadata, and returns the metadata the
// host read; oldHost hides the host's capabilities from the plugin.
func metadataThrough(t *testing.T, md map[string]any, oldHost bool) map[string]any {
	t.Helper()
	plug := recorder{got: make(chan pluginapi.Forward, 1), result: pluginapi.Handle(pluginapi.MessageEvent{Text: "x", Metadata: md})}
	srv, stopServer, err := pluginlink.NewServer(plug, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if oldHost {
		srv = oldHostView{srv}
	}
	r, stop, err := serveInProcess(srv, stopServer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if _, err := r.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := r.HandleForward(context.Background(), pluginapi.Forward{Platform: "x", Body: []byte("{}")})
	if err != nil || res.Disposition != pluginapi.Handled || len(res.Events) != 1 {
		t.Fatalf("result %+v, %v", res, err)
	}
	return res.Events[0].Metadata
}

// TestMetadataIsTheSameInBothEncodings: a host that lists metadata-json
// gets event metadata as JSON, an older one as a Struct; both read the
// same map.
func TestMetadataIsTheSameInBothEncodings(t *testing.T) {
	md := map[string]any{
		"discord_interaction_id": "123456789012345678901",
		"discord_values":         []string{"a", "b"},
		"discord_modal_fields":   []any{map[string]any{"custom_id": "f", "value": "v <&> é"}},
		"n":                      json.Number("2.5"),
		"i":                      42,
		"flag":                   true,
		"none":                   nil,
		"nested":                 map[string]string{"k": "v"},
	}
	asJSON := metadataThrough(t, md, false)
	asStruct := metadataThrough(t, md, true)
	if !reflect.DeepEqual(asJSON, asStruct) {
		t.Fatalf("metadata differs between the encodings:\n json   %#v\n struct %#v", asJSON, asStruct)
	}
	if asJSON["i"] != float64(42) || asJSON["n"] != 2.5 || asJSON["discord_interaction_id"] != "123456789012345678901" {
		t.Fatalf("metadata = %#v", asJSON)
	}
}

// TestMetadataJSONIsUsedWhenTheHostListsIt: the SDK sends metadata_json to
// a host that lists the capability, a Struct otherwise.
func TestMetadataJSONIsUsedWhenTheHostListsIt(t *testing.T) {
	plug := recorder{got: make(chan pluginapi.Forward, 2), result: pluginapi.Handle(pluginapi.MessageEvent{Text: "x", Metadata: map[string]any{"k": "v"}})}
	srv, stopServer, err := pluginlink.NewServer(plug, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer stopServer()
	for _, tc := range []struct {
		caps     []string
		wantJSON bool
	}{{hostCapabilities(), true}, {nil, false}} {
		if _, err := srv.Info(context.Background(), &pluginv1.InfoRequest{HostCapabilities: tc.caps}); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Handle(context.Background(), &pluginv1.ForwardRequest{Id: 1, Forward: &pluginv1.Forward{Platform: "x"}})
		if err != nil || len(resp.GetEvents()) != 1 {
			t.Fatalf("host capabilities %q: %v, %v", tc.caps, resp, err)
		}
		ev := resp.GetEvents()[0]
		if gotJSON := len(ev.GetMetadataJson()) > 0; gotJSON != tc.wantJSON || gotJSON == (ev.GetMetadata() != nil) {
			t.Errorf("host capabilities %q: metadata_json %q, metadata %v; want JSON %v", tc.caps, ev.GetMetadataJson(), ev.GetMetadata(), tc.wantJSON)
		}
	}
}

// TestBadMetadataJSONRejectsTheResult: metadata_json that is not a JSON
// object rejects that result alone.
func TestBadMetadataJSONRejectsTheResult(t *testing.T) {
	for _, raw := range []string{`[1]`, `"s"`, `{`, `null`, `{"a":1}x`} {
		res := resultFromWire(&pluginv1.ForwardResponse{Id: 1, Disposition: pluginv1.Disposition_DISPOSITION_HANDLED,
			Events: []*pluginv1.MessageEvent{{Text: "x", MetadataJson: []byte(raw)}}}, true)
		if res.Disposition != pluginapi.Rejected || len(res.Events) != 0 {
			t.Errorf("metadata_json %s: %s %q; want rejected", raw, res.Disposition, res.Reason)
		}
	}
	res := resultFromWire(&pluginv1.ForwardResponse{Id: 1, Disposition: pluginv1.Disposition_DISPOSITION_HANDLED,
		Events: []*pluginv1.MessageEvent{{Text: "x", MetadataJson: []byte(`{}`)}}}, true)
	if res.Disposition != pluginapi.Handled || res.Events[0].Metadata != nil {
		t.Errorf("metadata_json {}: %+v; want handled, no metadata", res)
	}
}

// metaEcho answers each forward with one event whose metadata is the
// forward's body, a JSON object decoded as a plugin would (UseNumber).
type metaEcho struct{}

func (metaEcho) Info() pluginapi.Info {
	return pluginapi.Info{Name: "meta-echo", Version: "1.0.0", Platforms: []string{"x"}}
}

func (metaEcho) HandleForward(_ context.Context, f pluginapi.Forward) pluginapi.Result {
	dec := json.NewDecoder(bytes.NewReader(f.Body))
	dec.UseNumber()
	var md map[string]any
	if err := dec.Decode(&md); err != nil {
		return pluginapi.Drop("not a JSON object")
	}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: "x", Metadata: md})
}

// FuzzMetadataEncodingsAgree: whatever metadata a plugin returns, the host
// reads the same map from metadata_json as from a Struct, or rejects the
// result either way.
func FuzzMetadataEncodingsAgree(f *testing.F) {
	for _, s := range []string{
		`{"discord_interaction_id":"1","discord_values":["a","b"]}`,
		`{"discord_modal_fields":[{"custom_id":"f","value":"v"}],"n":2.5,"i":-0,"big":12345678901234567890}`,
		`{"nested":{"a":[null,true,false,{"b":1e21}]},"esc":"<\u0000\ud83d\ude00>"}`,
		`{}`, `{"huge":1e400}`,
	} {
		f.Add([]byte(s))
	}
	servers := map[bool]pluginv1.PluginServer{}
	for _, withJSON := range []bool{true, false} {
		srv, stop, err := pluginlink.NewServer(metaEcho{}, hclog.NewNullLogger())
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(stop)
		var caps []string
		if withJSON {
			caps = hostCapabilities()
		}
		if _, err := srv.Info(context.Background(), &pluginv1.InfoRequest{HostCapabilities: caps}); err != nil {
			f.Fatal(err)
		}
		servers[withJSON] = srv
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := map[bool]pluginapi.Result{}
		for withJSON, srv := range servers {
			resp, err := srv.Handle(context.Background(), &pluginv1.ForwardRequest{Id: 1, Forward: &pluginv1.Forward{Platform: "x", Body: body}})
			if err != nil {
				t.Fatal(err)
			}
			got[withJSON] = resultFromWire(resp, true)
		}
		j, s := got[true], got[false]
		if j.Disposition != s.Disposition {
			t.Fatalf("body %q: %s (%s) as JSON, %s (%s) as a Struct", body, j.Disposition, j.Reason, s.Disposition, s.Reason)
		}
		if j.Disposition == pluginapi.Handled && !reflect.DeepEqual(j.Events[0].Metadata, s.Events[0].Metadata) {
			t.Fatalf("body %q:\n json   %#v\n struct %#v", body, j.Events[0].Metadata, s.Events[0].Metadata)
		}
	})
}
