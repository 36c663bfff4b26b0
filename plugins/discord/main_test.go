package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// TestGoldensThroughThePluginBinary runs every golden through the real
// plugin binary over go-plugin, so the gRPC mapping is covered as well as
// the pure conversion.
func TestGoldensThroughThePluginBinary(t *testing.T) {
	h := plugintest.Start(t, plugintest.Build(t, "."))
	if info := h.Info(); info.Name != "discord" || len(info.Platforms) != 1 || info.Platforms[0] != "discord" {
		t.Fatalf("Info() = %+v", info)
	}
	bodies, err := filepath.Glob("convert/testdata/golden/*.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range bodies {
		if strings.HasSuffix(path, ".want.json") || strings.HasSuffix(path, ".forward.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			body := read(t, path)
			f := pluginapi.Forward{Platform: "discord", Method: "POST", Path: "/interactions",
				Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}}, Body: body}
			if side, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".forward.json"); err == nil {
				var fw struct{ Profile string }
				if err := json.Unmarshal(side, &fw); err != nil {
					t.Fatal(err)
				}
				f.Profile = fw.Profile
			}
			res, err := h.Forward(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(res)
			want := read(t, strings.TrimSuffix(path, ".json")+".want.json")
			if !sameJSON(t, got, want) {
				t.Errorf("through the plugin binary:\n got %s\nwant %s", got, want)
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d goldens, want at least 30", n)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON compares two JSON documents by value. Numbers are compared as
// written by json.Number, so an id is never rounded.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	norm := func(x []byte) string {
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("bad JSON %s: %v", x, err)
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}
