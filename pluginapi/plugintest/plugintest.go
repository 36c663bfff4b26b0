// Package plugintest runs a relay-host plugin without a host or a connector,
// so a plugin author can test it with `go test`.
//
// New runs a Plugin implementation in-process, through the same gRPC server,
// client and type conversion the host uses. Build compiles a plugin's main
// package and Start launches the binary as a real subprocess exactly as
// relay-host does (go-plugin, gRPC, AutoMTLS, the same environment
// allowlist), so the whole path is covered:
//
//	func TestMyPlugin(t *testing.T) {
//		h := plugintest.Start(t, plugintest.Build(t, "."))
//		res := h.Body(t, "slack", []byte("command=%2Fask&text=hi"))
//		if res.Disposition != pluginapi.Handled { t.Fatal(res.Reason) }
//	}
package plugintest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// ForwardTimeout bounds each forward a Harness sends; a plugin that takes
// longer than this in a test is hung, not slow.
const ForwardTimeout = 30 * time.Second

// Harness drives one plugin, in-process or as a subprocess.
type Harness struct {
	info   pluginapi.Info
	remote *launcher.Remote
	proc   *launcher.Process // nil in-process
	close  func()
}

// Info returns what the plugin said about itself.
func (h *Harness) Info() pluginapi.Info { return h.info }

// PID returns the plugin's process id, or 0 for an in-process harness.
func (h *Harness) PID() int {
	if h.proc == nil {
		return 0
	}
	return h.proc.PID
}

// ErrPluginGone is the error (wrapped) of a forward whose plugin died or
// was stopped before it answered; it is launcher.ErrPluginGone, the error
// relay-host sees in the same case.
var ErrPluginGone = launcher.ErrPluginGone

// Forward sends f to the plugin and returns its result. The error is
// non-nil only when the plugin did not answer: it wraps ErrPluginGone when
// the plugin died, or is ctx's error.
func (h *Harness) Forward(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	return h.remote.HandleForward(ctx, f)
}

// Body sends a POST forward with body for platform, failing the test if
// the plugin does not answer. Like `relay-host convert`, it sets a
// content-type header: application/json for a body that starts with '{',
// else application/x-www-form-urlencoded.
func (h *Harness) Body(tb testing.TB, platform string, body []byte) pluginapi.Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ForwardTimeout)
	defer cancel()
	ct := "application/x-www-form-urlencoded"
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		ct = "application/json"
	}
	res, err := h.Forward(ctx, pluginapi.Forward{Platform: platform, Method: "POST", Path: "/" + platform,
		Headers: []pluginapi.Header{{Name: "content-type", Value: ct}}, Body: body})
	if err != nil {
		tb.Fatalf("forward to plugin %s: %v", h.info.Name, err)
	}
	return res
}

// Close stops the plugin. It is also registered with tb.Cleanup.
func (h *Harness) Close() { h.close() }

// New serves impl in-process over a real (in-memory) gRPC connection and returns a
// harness for it; the connection is closed when the test ends.
func New(tb testing.TB, impl pluginapi.Plugin) *Harness {
	tb.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: testWriter{tb}, Level: hclog.Debug})
	remote, stop, err := launcher.ServeInProcess(impl, logger)
	if err != nil {
		tb.Fatalf("serve plugin in-process: %v", err)
	}
	info, err := remote.Info(context.Background())
	if err != nil {
		tb.Fatalf("in-process plugin info: %v", err)
	}
	h := &Harness{info: info, remote: remote}
	h.close = stop
	tb.Cleanup(h.close)
	return h
}

// Build compiles the plugin main package pkg (a directory or import path,
// e.g. "." or "./plugins/twilio") into a temporary directory, named
// relay-plugin-<base name of pkg>, and returns the binary's path. Extra
// arguments go to `go build` before the package (e.g. "-ldflags", "...").
func Build(tb testing.TB, pkg string, buildArgs ...string) string {
	tb.Helper()
	name := filepath.Base(pkg)
	if abs, err := filepath.Abs(pkg); err == nil && (pkg == "." || strings.HasPrefix(pkg, ".")) {
		name = filepath.Base(abs)
	}
	name = strings.TrimPrefix(name, "relay-plugin-")
	out := filepath.Join(tb.TempDir(), "relay-plugin-"+name)
	args := append([]string{"build", "-o", out}, buildArgs...)
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("go build %s: %v", pkg, err)
	}
	return out
}

// Start launches the plugin binary at path as a real subprocess, the way
// relay-host does, and returns a harness for it. The plugin's log goes to
// the test log; the process is killed when the test ends.
func Start(tb testing.TB, path string) *Harness {
	tb.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: filepath.Base(path), Output: testWriter{tb}, Level: hclog.Debug})
	proc, err := launcher.Launch(context.Background(), launcher.LaunchConfig{
		Path:   path,
		Env:    launcher.PluginEnv(hclog.Debug.String()),
		Logger: logger,
	})
	if err != nil {
		tb.Fatalf("start plugin: %v", err)
	}
	h := &Harness{info: proc.Info, remote: proc.Remote, proc: proc}
	h.close = proc.Kill
	tb.Cleanup(h.close)
	return h
}

// Kill kills a subprocess plugin with SIGKILL, as a crash would; it is a
// no-op for an in-process harness.
func (h *Harness) Kill() error {
	if h.proc == nil {
		return nil
	}
	p, err := os.FindProcess(h.proc.PID)
	if err != nil {
		return err
	}
	return p.Kill()
}

// testWriter sends plugin log lines to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
