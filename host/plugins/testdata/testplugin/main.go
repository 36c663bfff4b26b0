// Command testplugin is a plugin for the host's tests. Its name and
// platforms are set at build time (-ldflags "-X main.name=… -X main.platforms=a,b",
// and -X main.keepRuntime=yes to serve with pluginapi.KeepRuntimeSettings);
// the body chooses what it does: "panic", "hang", "exit", "exit-once" (crash
// unless the file named by the forward's profile exists, creating it), "env",
// "hold" and "hold-exit" (see hold), "runtime" (its collector settings), or
// anything else, which it echoes back as one event.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

var (
	name        = "test"
	platforms   = "test"
	keepRuntime = ""
)

type testPlugin struct{}

func (testPlugin) Info() pluginapi.Info {
	return pluginapi.Info{Name: name, Version: "0.0.1", Platforms: strings.Split(platforms, ",")}
}

func (testPlugin) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	switch string(f.Body) {
	case "panic":
		panic("test panic")
	case "hang":
		<-ctx.Done()
		return pluginapi.Drop("cancelled")
	case "exit":
		os.Exit(7)
	case "exit-once":
		// Crash the first time this marker file is absent; serve after.
		marker := f.Profile
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, nil, 0o600)
			os.Exit(7)
		}
	case "env":
		return pluginapi.Handle(pluginapi.MessageEvent{Text: strings.Join(os.Environ(), "\n")})
	case "hold", "hold-exit":
		return hold(ctx, f.Profile, string(f.Body) == "hold-exit")
	case "runtime":
		gc := debug.SetGCPercent(-1)
		debug.SetGCPercent(gc)
		return pluginapi.Handle(pluginapi.MessageEvent{Text: fmt.Sprintf("gc=%d limit=%d", gc, debug.SetMemoryLimit(-1))})
	}
	src := pluginapi.SessionSource{Platform: f.Platform, ChatType: "dm", ChatID: "c1"}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: string(f.Body), MessageType: pluginapi.MessageTypeText,
		Source: src, SessionKey: pluginapi.SessionKey(src), MessageID: os.Getenv("RELAY_PLUGIN_LOG_LEVEL")})
}

// hold connects to the Unix socket at path, so the test knows the forward
// is in the plugin, and holds the forward until the test closes the
// connection (handled, "released") or the forward's context ends: then it
// drops the forward, or with exit exits with status 3, like a plugin that
// dies while the host stops it.
func hold(ctx context.Context, path string, exit bool) pluginapi.Result {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return pluginapi.Reject("hold: " + err.Error())
	}
	defer conn.Close()
	released := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(released)
	}()
	select {
	case <-released:
		return pluginapi.Handle(pluginapi.MessageEvent{Text: "released"})
	case <-ctx.Done():
		if exit {
			os.Exit(3)
		}
		return pluginapi.Drop("cancelled")
	}
}

func main() {
	var opts []pluginapi.ServeOption
	if keepRuntime != "" {
		opts = append(opts, pluginapi.KeepRuntimeSettings())
	}
	pluginapi.Serve(testPlugin{}, opts...)
}
