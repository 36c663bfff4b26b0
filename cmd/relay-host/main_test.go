package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/relayhost/relay-host/internal/notify"
)

// bins are the binaries the tests run, built once in TestMain: relay-host
// with the bundled plugins beside it (as `make build` lays them out), and a
// plugins directory that also holds the host tests' scriptable plugin. When
// the tests run with -race, so are they built: the race detector then
// covers the host binary and its plugins, not only this test process.
var bins struct {
	dir        string // holds relay-host and plugins/
	relayHost  string
	memoryHost string // relay-host without the race detector, for memory figures
	plugins    string // the bundled plugins
	testPlugin string // a scriptable plugin serving platform "test"
	github     string // the GitHub example plugin
	jsWorker   string // examples/agents/jetstream-echo
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relay-host-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.relayHost = filepath.Join(dir, "relay-host")
	bins.memoryHost = bins.relayHost
	bins.plugins = filepath.Join(dir, "plugins")
	builds := []struct {
		out, pkg, ldflags string
		plain             bool // never with the race detector
	}{
		{bins.relayHost, ".", "", false},
		{filepath.Join(bins.plugins, "relay-plugin-discord"), "../../plugins/discord", "", false},
		{filepath.Join(bins.plugins, "relay-plugin-twilio"), "../../plugins/twilio", "", false},
		{filepath.Join(dir, "testplugin"), "../../host/plugins/testdata/testplugin", "-X main.name=test -X main.platforms=test", false},
		{filepath.Join(dir, "github"), "../../examples/plugins/github", "", false},
		{filepath.Join(dir, "jetstream-echo"), "../../examples/agents/jetstream-echo", "", false},
	}
	if raceEnabled {
		// The memory figures are the product's: the race detector's shadow
		// memory would multiply them.
		bins.memoryHost = filepath.Join(dir, "relay-host-plain")
		builds = append(builds, struct {
			out, pkg, ldflags string
			plain             bool
		}{bins.memoryHost, ".", "", true})
	}
	// Two builds at a time: the go command parallelises within a build too.
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for _, b := range builds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			args := []string{"build", "-o", b.out}
			if raceEnabled && !b.plain {
				args = append(args, "-race")
			}
			if b.ldflags != "" {
				args = append(args, "-ldflags", b.ldflags)
			}
			cmd := exec.Command("go", append(args, b.pkg)...)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n", b.pkg, err)
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bins.testPlugin = filepath.Join(dir, "testplugin")
	bins.github = filepath.Join(dir, "github")
	bins.jsWorker = filepath.Join(dir, "jetstream-echo")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// scenarioTimeout bounds every wait in a scenario, so a regression fails
// the test instead of hanging the suite; a healthy scenario takes well under
// a second of it.
const scenarioTimeout = 60 * time.Second

// testCtx is the test's context, bounded by scenarioTimeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
	t.Cleanup(cancel)
	return ctx
}

// result of one relay-host invocation.
type result struct {
	code           int
	stdout, stderr string
}

// childEnv is the environment of every process these tests start: the test
// runner's own, without any RELAY_* variable (a developer's shell or CI may
// set RELAY_CONNECTOR_URL, RELAY_SECRET, RELAY_AGENT…, which would change
// what the child does), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// raceReport is how the race detector starts each report. A child built
// with -race that races prints it on its standard error (a plugin's reaches
// relay-host's log at debug level) and exits with status 66.
const raceReport = "WARNING: DATA RACE"

// checkNoRace fails the test when a child's standard error holds a race
// report.
func checkNoRace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, raceReport) {
		t.Errorf("a relay-host child process reported a data race:\n%s", stderr)
	}
}

// relayHost runs the built binary to completion.
func relayHost(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t), bins.relayHost, args...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run relay-host %v: %v", args, err)
	}
	checkNoRace(t, r.stderr)
	return r
}

// process is a long-running relay-host.
type process struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	lines  chan string
	done   chan struct{}
	code   int
}

// lockedBuffer collects a process's standard error and lets a test block
// until a given text has been written.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed notify.Signal // notified on every write
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.changed.Notify()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor blocks until the output contains text n times, or ctx ends.
func (l *lockedBuffer) waitFor(ctx context.Context, text string, n int) error {
	err := l.changed.Wait(ctx, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return strings.Count(l.b.String(), text) >= n
	})
	if err != nil {
		return fmt.Errorf("waiting for %q in the log: %w", text, err)
	}
	return nil
}

// start launches relay-host with env as its only RELAY_* variables; its
// standard output lines arrive on p.lines.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startCmd(t, exec.Command(bins.relayHost, args...), env)
}

// startCmd is start for a prepared command (another binary, another user).
func startCmd(t *testing.T, cmd *exec.Cmd, env []string) *process {
	t.Helper()
	cmd.Env = childEnv(env...)
	p := &process{cmd: cmd, stderr: &lockedBuffer{}, lines: make(chan string, 1024), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		_ = err
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(scenarioTimeout):
			t.Errorf("relay-host (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
		checkNoRace(t, p.stderr.String())
		if t.Failed() {
			t.Logf("relay-host stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// wait waits for the process to exit (bounded by the test's deadline) and
// returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-testCtx(t).Done():
		t.Fatalf("relay-host did not exit; stderr:\n%s", p.stderr.String())
		return -1
	}
}

// waitLog waits until the process has logged text n times. It fails the
// test at once if the process exits without having logged it, and after
// scenarioTimeout otherwise.
func (p *process) waitLog(t *testing.T, text string, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := p.stderr.waitFor(ctx, text, n)
	if err == nil || strings.Count(p.stderr.String(), text) >= n {
		return
	}
	select {
	case <-p.done:
		t.Fatalf("relay-host exited (code %d) before logging %q %d times", p.code, text, n)
	default:
		t.Fatal(err)
	}
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state, ok := procStat(child); ok && ppid == pid && state != "Z" {
			out = append(out, child)
		}
	}
	return out
}

// procStat reads a process's parent pid and state from /proc.
func procStat(pid int) (ppid int, state string, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return ppid, fields[0], true
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}

// awaitGone waits, blocking on the kernel through a pidfd, until none of
// pids is alive, for at most orphanBound; a survivor fails the test.
func awaitGone(t *testing.T, pids []int) {
	t.Helper()
	const orphanBound = 5 * time.Second
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // already gone (ESRCH)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, int(orphanBound/time.Millisecond))
		unix.Close(fd)
		if alive(pid) {
			t.Errorf("plugin process %d is still alive %s after its host exited", pid, orphanBound)
		}
	}
}

// copyDir makes a plugins dir for one test from the given binaries.
func pluginsDir(t *testing.T, withTest bool) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"relay-plugin-discord", "relay-plugin-twilio"} {
		copyFile(t, filepath.Join(bins.plugins, name), filepath.Join(dir, name))
	}
	if withTest {
		copyFile(t, bins.testPlugin, filepath.Join(dir, "relay-plugin-test"))
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
