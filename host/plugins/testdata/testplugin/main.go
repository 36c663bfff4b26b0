// Command testplugin is a plugin for the host's tests. Its name and
// platforms are set at build time (-ldflags "-X main.name=… -X main.platforms=a,b",
// and -X main.keepRuntime=yes to serve with pluginapi.KeepRuntimeSettings);
// the body chooses what it does: "panic", "hang", "exit", "exit-once" (crash
// unless the file named by the forward's profile exists, creating it), "env",
// "hold" and "hold-exit" (see hold), "runtime" (its collector settings),
// "wedge" (this forward and every later one block for good, deadline or
// not: a wedged plugin), "stall" (this forward blocks for good, the others
// are served; with a profile, it first connects to that Unix socket, as
// hold does), "fork-sleep" (starts `sleep 300` and answers its
// pid), "many-events" (200,000 events), "huge-result" (one 20 MB event),
// "environ" (tries to read its host's /proc/PID/environ), "read-file"
// (tries to read the file named by the forward's profile), "uid" (its user
// and group ids), or anything else, which it echoes back as one event.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"

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

// wedged is set by a "wedge" forward: from then on every forward blocks.
var wedged atomic.Bool

// readFile answers "ok:" and the file's content, or "error:" and why it
// could not be read.
func readFile(path string) pluginapi.Result {
	data, err := os.ReadFile(path)
	if err != nil {
		return pluginapi.Handle(pluginapi.MessageEvent{Text: "error:" + err.Error()})
	}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: "ok:" + strings.ReplaceAll(string(data), "\x00", "\n")})
}

func (testPlugin) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	if wedged.Load() {
		select {}
	}
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
	case "wedge":
		wedged.Store(true)
		select {}
	case "stall":
		if f.Profile != "" { // tell the test it is here (see hold)
			conn, err := net.Dial("unix", f.Profile)
			if err == nil {
				defer conn.Close()
			}
		}
		select {} // this forward never ends; the others are served
	case "fork-sleep":
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			return pluginapi.Reject("fork-sleep: " + err.Error())
		}
		return pluginapi.Handle(pluginapi.MessageEvent{Text: strconv.Itoa(cmd.Process.Pid)})
	case "many-events":
		events := make([]pluginapi.MessageEvent, 200_000)
		for i := range events {
			events[i] = pluginapi.MessageEvent{Text: "e"}
		}
		return pluginapi.Handle(events...)
	case "huge-result":
		return pluginapi.Handle(pluginapi.MessageEvent{Text: strings.Repeat("x", 20<<20)})
	case "environ":
		return readFile(fmt.Sprintf("/proc/%d/environ", os.Getppid()))
	case "read-file":
		return readFile(f.Profile)
	case "uid":
		return pluginapi.Handle(pluginapi.MessageEvent{Text: fmt.Sprintf("uid=%d gid=%d", os.Getuid(), os.Getgid())})
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
