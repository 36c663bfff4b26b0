package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// processesRunning returns the pids of live processes whose executable is
// in dir.
func processesRunning(dir string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir+string(filepath.Separator)) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestNoPluginOutlivesTheHost covers every way relay-host ends: a normal
// return, an error after the plugins started, SIGINT, SIGTERM and SIGKILL.
func TestNoPluginOutlivesTheHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, plugins string)
	}{
		{"normal return (convert)", func(t *testing.T, plugins string) {
			body := filepath.Join(t.TempDir(), "sms.txt")
			if err := os.WriteFile(body, []byte("MessageSid=SM1"), 0o644); err != nil {
				t.Fatal(err)
			}
			if r := relayHost(t, "", "convert", "--platform", "twilio", "--plugins-dir", plugins, body); r.code != 0 {
				t.Fatalf("convert exit %d: %s", r.code, r.stderr)
			}
		}},
		{"error after the plugins started", func(t *testing.T, plugins string) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			srv := connector(t, relaytest.Options{})
			p := start(t, nil, runArgs(srv, secretFile(t), plugins, "--listen", busy.Addr().String())...)
			if code := p.wait(t); code != exitFailure {
				t.Fatalf("exit %d, want %d", code, exitFailure)
			}
		}},
		{"SIGINT", func(t *testing.T, plugins string) { signalled(t, plugins, syscall.SIGINT, 0) }},
		{"SIGTERM", func(t *testing.T, plugins string) { signalled(t, plugins, syscall.SIGTERM, 0) }},
		{"SIGKILL", func(t *testing.T, plugins string) { signalled(t, plugins, syscall.SIGKILL, -1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugins := pluginsDir(t, false)
			tt.run(t, plugins)
			awaitGone(t, processesRunning(plugins))
		})
	}
}

// signalled runs relay-host until it is connected, sends sig and checks the
// exit code (-1: killed by the signal).
func signalled(t *testing.T, plugins string, sig syscall.Signal, wantCode int) {
	t.Helper()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), plugins)...)
	if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if n := len(processesRunning(plugins)); n != 2 {
		t.Fatalf("%d plugin processes running, want 2", n)
	}
	p.signal(t, sig)
	if code := p.wait(t); code != wantCode {
		t.Errorf("exit code after %v = %d, want %d", sig, code, wantCode)
	}
}
