package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/host"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
	"go.uber.org/goleak"
)

// binaries holds the test plugin builds, made once in TestMain.
var binaries struct {
	alpha, beta, alphaDup, keep, v2, raw string
	sdk1, sdk2                           string // sdkplugin, versions 1 and 2
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relay-plugins-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := func(out, pkg string, ldflags string) string {
		path := filepath.Join(dir, out)
		args := []string{"build", "-o", path}
		if ldflags != "" {
			args = append(args, "-ldflags", ldflags)
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.Exit(1)
		}
		return path
	}
	binaries.alpha = build("alpha", "./testdata/testplugin", "-X main.name=alpha -X main.platforms=alpha,shared-a")
	binaries.beta = build("beta", "./testdata/testplugin", "-X main.name=beta -X main.platforms=beta")
	binaries.alphaDup = build("alphadup", "./testdata/testplugin", "-X main.name=alphadup -X main.platforms=alpha")
	binaries.keep = build("keep", "./testdata/testplugin", "-X main.name=keep -X main.platforms=keep -X main.keepRuntime=yes")
	binaries.v2 = build("v2", "./testdata/v2plugin", "")
	binaries.sdk1 = build("sdk1", "./testdata/sdkplugin", "-X main.name=sdk -X main.platforms=sdk -X main.version=1")
	binaries.sdk2 = build("sdk2", "./testdata/sdkplugin", "-X main.name=sdk -X main.platforms=sdk -X main.version=2")
	binaries.raw = build("raw", "./testdata/rawplugin", "")
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Closing a Manager must stop everything it started: supervisors,
		// stream goroutines, go-plugin's log and stdio relays.
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// install copies a binary into dir as relay-plugin-<name>.
func install(t testing.TB, dir, bin, name string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FilePrefix+name)
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// eventTimeout bounds every wait for a plugin event. A plugin starts in
// tens of milliseconds and the longest restart delay a test waits for is
// under two seconds; this only catches an event that never comes.
const eventTimeout = 30 * time.Second

// event is one plugin lifecycle event, "<name>:<state>" or
// "<name>:restarted", with the time it was reported.
type event struct {
	name string
	at   time.Time
}

// events records plugin lifecycle events for tests to wait on.
type events struct{ ch chan event }

// newEvents returns a recorder with room for every event a test causes
// (the supervisor blocks on a full one).
func newEvents() *events { return &events{ch: make(chan event, 256)} }

func (e *events) PluginState(name string, s State) { e.ch <- event{name + ":" + string(s), time.Now()} }
func (e *events) PluginRestarted(name string)      { e.ch <- event{name + ":restarted", time.Now()} }

// waitFor waits (at most eventTimeout) for the event want and returns when
// it was reported and the events reported before it.
// nextState waits (at most eventTimeout) for the next state event,
// skipping restart counts, and returns it with the time it was reported.
func (e *events) nextState(t *testing.T) (string, time.Time) {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-e.ch:
			if !strings.HasSuffix(ev.name, ":restarted") {
				return ev.name, ev.at
			}
		case <-deadline.C:
			t.Fatalf("no plugin state event after %s", eventTimeout)
		}
	}
}

func (e *events) waitFor(t *testing.T, want string) (time.Time, []string) {
	t.Helper()
	var skipped []string
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-e.ch:
			if ev.name == want {
				return ev.at, skipped
			}
			skipped = append(skipped, ev.name)
		case <-deadline.C:
			t.Fatalf("no %s event after %s; saw %v", want, eventTimeout, skipped)
		}
	}
}

func open(t *testing.T, dir string, obs Observer) *Manager {
	t.Helper()
	m, err := Open(context.Background(), Config{Dir: dir, Logger: hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug}), Observer: obs})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func forward(platform, body string) pluginapi.Forward {
	return pluginapi.Forward{Platform: platform, Method: "POST", Path: "/" + platform, Body: []byte(body)}
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3 is the state; a zombie (Z) is dead but not yet reaped.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestDiscoverSkipsWhatIsNotAPlugin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := install(t, dir, binaries.alpha, "alpha")
	must(t, os.WriteFile(filepath.Join(dir, FilePrefix+"noexec"), []byte("x"), 0o644))
	must(t, os.Symlink(good, filepath.Join(dir, FilePrefix+"link")))
	must(t, os.Mkdir(filepath.Join(dir, FilePrefix+"dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "other-tool"), []byte("x"), 0o755))
	cands, skipped, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Name != "alpha" || len(cands[0].SHA256) != 64 {
		t.Fatalf("candidates = %+v, want only alpha with a hash", cands)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	for name, want := range map[string]string{
		FilePrefix + "noexec": "not executable", FilePrefix + "link": "symlink",
		FilePrefix + "dir": "not a regular file", "other-tool": "does not start with",
	} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("skip reason for %s = %q, want it to mention %q", name, reasons[name], want)
		}
	}
}

// TestOpenErrors checks every way Open refuses to start: each error has its
// type, the facts in its fields and a message that states them, and no
// advice (cmd/relay-host adds that).
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	alphaSum := func() string {
		sum, err := FileSHA256(binaries.alpha)
		must(t, err)
		return sum
	}()
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		check func(t *testing.T, dir string, err error)
		want  []string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(empty, "nope") }, func(t *testing.T, dir string, err error) {
			var de *DirError
			if !errors.As(err, &de) || de.Dir != dir || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %#v, want a *DirError for %s wrapping fs.ErrNotExist", err, dir)
			}
		}, []string{"does not exist"}},
		{"empty directory", func(t *testing.T) string { return empty }, func(t *testing.T, dir string, err error) {
			var ne *NoPluginsError
			if !errors.As(err, &ne) || ne.Dir != dir {
				t.Errorf("error %#v, want a *NoPluginsError for %s", err, dir)
			}
		}, []string{"no plugins in", "relay-plugin-<name>"}},
		{"two plugins claim one platform", func(t *testing.T) string {
			d := t.TempDir()
			install(t, d, binaries.alpha, "alpha")
			install(t, d, binaries.alphaDup, "alphadup")
			return d
		}, func(t *testing.T, dir string, err error) {
			var pe *PlatformConflictError
			if !errors.As(err, &pe) || pe.Platform != "alpha" || pe.Dir != dir {
				t.Errorf("error %#v, want a *PlatformConflictError for platform alpha in %s", err, dir)
			}
		}, []string{"relay-plugin-alpha", "relay-plugin-alphadup", `both claim platform "alpha"`}},
		{"protocol version mismatch", func(t *testing.T) string {
			d := t.TempDir()
			install(t, d, binaries.v2, "future")
			return d
		}, func(t *testing.T, dir string, err error) {
			var pe *launcher.ProtocolError
			if !errors.As(err, &pe) || pe.Plugin != 2 || pe.Host != pluginapi.ProtocolVersion || pe.Path != filepath.Join(dir, FilePrefix+"future") {
				t.Errorf("error %#v, want a *launcher.ProtocolError: plugin 2, host %d", err, pluginapi.ProtocolVersion)
			}
		}, []string{"relay-plugin-future speaks protocol 2, this host speaks 1"}},
		{"plugin exits during the handshake", func(t *testing.T) string {
			d := t.TempDir()
			must(t, os.WriteFile(filepath.Join(d, FilePrefix+"broken"), []byte("#!/bin/sh\necho broken >&2\nexit 1\n"), 0o755))
			return d
		}, func(t *testing.T, dir string, err error) {
			var he *launcher.HandshakeError
			if !errors.As(err, &he) || he.Timeout || he.Path != filepath.Join(dir, FilePrefix+"broken") {
				t.Errorf("error %#v, want a *launcher.HandshakeError for relay-plugin-broken", err)
			}
		}, []string{"relay-plugin-broken", "handshake"}},
		{"pin mismatch", func(t *testing.T) string {
			d := t.TempDir()
			install(t, d, binaries.alpha, "alpha")
			must(t, os.WriteFile(filepath.Join(d, PinFileName), []byte(strings.Repeat("ab", 32)+"  relay-plugin-alpha\n"), 0o644))
			return d
		}, func(t *testing.T, dir string, err error) {
			want := PinError{Path: filepath.Join(dir, FilePrefix+"alpha"), Got: alphaSum, Want: strings.Repeat("ab", 32)}
			if pe := (*PinError)(nil); !errors.As(err, &pe) || *pe != want {
				t.Errorf("error %#v, want %#v", err, want)
			}
		}, []string{"relay-plugin-alpha was refused", "its sha256 is " + alphaSum, strings.Repeat("ab", 32)}},
		{"plugin missing from the pin file", func(t *testing.T) string {
			d := t.TempDir()
			install(t, d, binaries.alpha, "alpha")
			install(t, d, binaries.beta, "beta")
			cands, _, _ := Discover(d)
			must(t, WritePins(d, cands[:1]))
			return d
		}, func(t *testing.T, dir string, err error) {
			if pe := (*PinError)(nil); !errors.As(err, &pe) || pe.Path != filepath.Join(dir, FilePrefix+"beta") || pe.Want != "" || len(pe.Got) != 64 {
				t.Errorf("error %#v, want a *PinError for relay-plugin-beta with no pinned hash", err)
			}
		}, []string{"relay-plugin-beta is not listed in plugins.sha256"}},
		{"malformed pin file", func(t *testing.T) string {
			d := t.TempDir()
			install(t, d, binaries.alpha, "alpha")
			must(t, os.WriteFile(filepath.Join(d, PinFileName), []byte("nonsense\n"), 0o644))
			return d
		}, func(t *testing.T, dir string, err error) {
			if pe := (*PinFileError)(nil); !errors.As(err, &pe) || pe.Line != 1 || pe.Path != filepath.Join(dir, PinFileName) {
				t.Errorf("error %#v, want a *PinFileError for line 1", err)
			}
		}, []string{"plugins.sha256 line 1", "sha256sum format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			m, err := Open(context.Background(), Config{Dir: dir, RequireAll: true})
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded, want an error")
			}
			tt.check(t, dir, err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, advice := range []string{"relay-host", "--plugins-dir", "make build", "rebuild", "remove one"} {
				if strings.Contains(err.Error(), advice) {
					t.Errorf("error %q gives advice (%q): that is cmd/relay-host's job", err, advice)
				}
			}
		})
	}
}

func TestPinnedPluginsStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	cands, _, _ := Discover(dir)
	must(t, WritePins(dir, cands))
	m := open(t, dir, nil)
	if res, err := m.Dispatch(context.Background(), forward("alpha", "hi")); err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("Dispatch = %+v, %v", res, err)
	}
}

func TestDispatchByPlatformToSubprocesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	install(t, dir, binaries.beta, "beta")
	m := open(t, dir, nil)
	if got, want := strings.Join(m.Platforms(), ","), "alpha,beta,shared-a"; got != want {
		t.Fatalf("Platforms() = %s, want %s", got, want)
	}
	for _, p := range []string{"alpha", "shared-a", "beta"} {
		res, err := m.Dispatch(context.Background(), forward(p, "hello "+p))
		if err != nil || res.Disposition != pluginapi.Handled || res.Events[0].Text != "hello "+p {
			t.Fatalf("Dispatch(%s) = %+v, %v", p, res, err)
		}
	}
	for _, st := range m.Statuses() {
		if st.PID == 0 || st.PID == os.Getpid() || !alive(st.PID) {
			t.Errorf("plugin %s has pid %d; want a live separate process", st.Name, st.PID)
		}
	}
	_, err := m.Dispatch(context.Background(), forward("nope", "x"))
	if !errors.Is(err, ErrNoPlugin) || !strings.Contains(err.Error(), "alpha, beta, shared-a") {
		t.Errorf("unknown platform error = %v, want ErrNoPlugin listing the platforms", err)
	}
	if !errors.Is(err, host.ErrNoPlugin) {
		t.Errorf("unknown platform error = %v is not host.ErrNoPlugin: the host would not settle it as a drop", err)
	}
}

func TestPluginEnvironmentIsAllowlisted(t *testing.T) {
	t.Setenv("RELAY_SECRET", "s3cr3t-value")
	t.Setenv("SOME_HOST_VAR", "x")
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	m := open(t, dir, nil)
	res, err := m.Dispatch(context.Background(), forward("alpha", "env"))
	if err != nil {
		t.Fatal(err)
	}
	env := res.Events[0].Text
	for _, banned := range []string{"s3cr3t-value", "SOME_HOST_VAR"} {
		if strings.Contains(env, banned) {
			t.Errorf("plugin environment contains %q:\n%s", banned, env)
		}
	}
	if !strings.Contains(env, pluginapi.EnvLogLevel+"=") {
		t.Errorf("plugin environment lacks %s:\n%s", pluginapi.EnvLogLevel, env)
	}
}

// TestRuntimeDefaults checks the collector settings Serve gives a plugin
// (pluginapi/runtime.go), and that KeepRuntimeSettings leaves Go's own.
func TestRuntimeDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	install(t, dir, binaries.keep, "keep")
	m := open(t, dir, nil)
	for platform, want := range map[string]string{
		"alpha": fmt.Sprintf("gc=400 limit=%d", 18<<20),
		"keep":  fmt.Sprintf("gc=100 limit=%d", int64(math.MaxInt64)),
	} {
		res, err := m.Dispatch(context.Background(), forward(platform, "runtime"))
		if err != nil || len(res.Events) != 1 || res.Events[0].Text != want {
			t.Errorf("%s: runtime settings %+v, %v; want %s", platform, res.Events, err, want)
		}
	}
}

func TestPanickingPluginRejectsAndKeepsServing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	m := open(t, dir, nil)
	pid := m.Statuses()[0].PID
	res, err := m.Dispatch(context.Background(), forward("alpha", "panic"))
	if err != nil || res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, "panicked") {
		t.Fatalf("panic forward = %+v, %v; want rejected", res, err)
	}
	res, err = m.Dispatch(context.Background(), forward("alpha", "after"))
	if err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("forward after panic = %+v, %v", res, err)
	}
	if st := m.Statuses()[0]; st.PID != pid || st.Restarts != 0 {
		t.Errorf("after a panic: pid %d restarts %d; want the same process (pid %d), no restart", st.PID, st.Restarts, pid)
	}
}

func TestKilledPluginIsRestartedAndServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	ev := newEvents()
	m := open(t, dir, ev)
	ev.waitFor(t, "alpha:up")
	old := m.Statuses()[0].PID
	must(t, syscall.Kill(old, syscall.SIGKILL))
	ev.waitFor(t, "alpha:down")
	res, err := m.Dispatch(context.Background(), forward("alpha", "after restart"))
	if err != nil || res.Disposition != pluginapi.Handled || res.Events[0].Text != "after restart" {
		t.Fatalf("forward after kill = %+v, %v", res, err)
	}
	st := m.Statuses()[0]
	if st.PID == old || st.Restarts != 1 || st.State != StateUp {
		t.Errorf("after restart: %+v; want a new pid, 1 restart, up", st)
	}
	if alive(old) {
		t.Errorf("killed plugin %d still alive", old)
	}
}

func TestInFlightForwardFailsWhenPluginDies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	ev := newEvents()
	m := open(t, dir, ev)
	ev.waitFor(t, "alpha:up")
	_, err := m.Dispatch(context.Background(), forward("alpha", "exit"))
	if !errors.Is(err, launcher.ErrPluginGone) {
		t.Fatalf("forward that killed its plugin: err = %v, want ErrPluginGone (so it is not acked)", err)
	}
	ev.waitFor(t, "alpha:up")
	if res, err := m.Dispatch(context.Background(), forward("alpha", "again")); err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("after restart: %+v, %v", res, err)
	}
}

func TestCloseLeavesNoPluginProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	install(t, dir, binaries.beta, "beta")
	m := open(t, dir, nil)
	var pids []int
	for _, st := range m.Statuses() {
		pids = append(pids, st.PID)
	}
	m.Close()
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin process %d still alive after Close", pid)
		}
	}
	if _, err := m.Dispatch(context.Background(), forward("alpha", "x")); err == nil {
		t.Error("Dispatch after Close succeeded")
	}
}

func TestRestartDelay(t *testing.T) {
	t.Parallel()
	p := defaultRestartPolicy()
	want := []string{"0s", "100ms", "200ms", "400ms", "800ms", "1.6s"}
	for n, w := range want {
		if got := p.delay(n).String(); got != w {
			t.Errorf("delay(%d) = %s, want %s", n, got, w)
		}
	}
	if got := p.delay(100); got != restartMaxDelay {
		t.Errorf("delay(100) = %s, want the cap %s", got, restartMaxDelay)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
