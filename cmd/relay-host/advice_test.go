package main

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// TestExplainAddsAdvice checks that each typed error of the library
// packages is printed with what to do about it, here and only here.
func TestExplainAddsAdvice(t *testing.T) {
	t.Parallel()
	pinned := &plugins.PinError{Path: "/p/relay-plugin-a", Got: "aa", Want: "bb"}
	unlisted := &plugins.PinError{Path: "/p/relay-plugin-b", Got: "cc"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"missing plugins directory", &plugins.DirError{Dir: "/p", Err: fs.ErrNotExist},
			"plugins directory /p does not exist: build the bundled plugins with `make build` or pass --plugins-dir"},
		{"unreadable plugins directory", &plugins.DirError{Dir: "/p", Err: fs.ErrPermission},
			"plugins directory /p: permission denied"},
		{"no plugins", &plugins.NoPluginsError{Dir: "/p"},
			"no plugins in /p: plugins are executables named relay-plugin-<name>; build the bundled ones with `make build`"},
		{"pin mismatch", pinned,
			"plugin /p/relay-plugin-a was refused: its sha256 is aa but plugins.sha256 pins bb; rebuild the pinned version (with -trimpath, so the same source gives the same hash) or run `relay-host plugins pin a` if you trust this build"},
		{"unpinned", unlisted,
			"plugin /p/relay-plugin-b is not listed in plugins.sha256 (its sha256 is cc): run `relay-host plugins pin b` if you trust it"},
		{"several refused, wrapped", fmt.Errorf("convert: %w", errors.Join(pinned, unlisted)),
			"convert: plugin /p/relay-plugin-a was refused: its sha256 is aa but plugins.sha256 pins bb\nplugin /p/relay-plugin-b is not listed in plugins.sha256 (its sha256 is cc); rebuild the pinned version (with -trimpath, so the same source gives the same hash) or run `relay-host plugins pin a` if you trust this build"},
		{"several refused", errors.Join(pinned, unlisted),
			"plugin /p/relay-plugin-a was refused: its sha256 is aa but plugins.sha256 pins bb; rebuild the pinned version (with -trimpath, so the same source gives the same hash) or run `relay-host plugins pin a` if you trust this build; " +
				"plugin /p/relay-plugin-b is not listed in plugins.sha256 (its sha256 is cc): run `relay-host plugins pin b` if you trust it"},
		{"malformed pin file", &plugins.PinFileError{Path: "/p/plugins.sha256", Line: 3},
			`/p/plugins.sha256 line 3: want "<sha256 hex>  <file name>" (sha256sum format); regenerate it with ` + "`relay-host plugins pin`"},
		{"platform conflict", &plugins.PlatformConflictError{Platform: "x", Paths: [2]string{"/p/a", "/p/b"}, Dir: "/p"},
			`plugins /p/a and /p/b both claim platform "x": remove one of them from /p`},
		{"protocol", &launcher.ProtocolError{Path: "/p/relay-plugin-f", Plugin: 2, Host: 1},
			"plugin relay-plugin-f speaks protocol 2, this host speaks 1: rebuild the plugin against pluginapi v1 or upgrade relay-host"},
		{"handshake", &launcher.HandshakeError{Path: "/p/relay-plugin-h", Err: errors.New("Unrecognized remote plugin message: hello")},
			"plugin relay-plugin-h exited or misbehaved during the handshake (is it built with pluginapi.Serve? run it with RELAY_PLUGIN_LOG_LEVEL=debug to see why): Unrecognized remote plugin message: hello"},
		{"handshake, wrapped", fmt.Errorf("start: %w", &launcher.HandshakeError{Path: "/p/relay-plugin-h", Err: errors.New("exited\nmore")}),
			"start: plugin relay-plugin-h exited or misbehaved during the handshake (is it built with pluginapi.Serve? run it with RELAY_PLUGIN_LOG_LEVEL=debug to see why): exited\nmore"},
		{"handshake timeout", &launcher.HandshakeError{Path: "/p/relay-plugin-h", Timeout: true, Err: errors.New("timeout")},
			"plugin relay-plugin-h did not complete the handshake in time: timeout"},
		{"webhook agent URL", &agent.URLError{URL: "localhost:8000"},
			`webhook agent: endpoint "localhost:8000" is not an absolute http:// or https:// URL: pass the agent's endpoint with --agent-url (or $RELAY_AGENT_URL), e.g. http://127.0.0.1:8000/events`},
		{"two %w are not a list", fmt.Errorf("%w and %w", errors.New("a"), errors.New("b")), "a and b"},
		{"other errors are left alone", errors.New("boom"), "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := explain(tt.err); got != tt.want {
				t.Errorf("explain:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
