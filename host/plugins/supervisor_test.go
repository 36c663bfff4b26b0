package plugins

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// fakeClock is a restart policy's clock that moves only when told; its
// timers fire when advance passes their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc is the restart policy's afterFunc on this clock.
func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// advance moves the clock and runs the timers it passes, in order.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// policy is the default restart policy on c.
func (c *fakeClock) policy() restartPolicy {
	p := defaultRestartPolicy()
	p.now, p.afterFunc = c.Now, c.AfterFunc
	return p
}

// supervise starts a supervisor for the plugin installed at path, with the
// restart policy p, reporting to ev.
func supervise(t *testing.T, path string, pinned bool, p restartPolicy, ev Observer) *Supervisor {
	t.Helper()
	sum, err := FileSHA256(path)
	must(t, err)
	cand := Candidate{Name: strings.TrimPrefix(filepath.Base(path), FilePrefix), Path: path, SHA256: sum}
	s, err := StartSupervisor(context.Background(), cand, SupervisorConfig{
		Logger:   hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug}),
		LogLevel: "debug", Pinned: pinned, Observer: ev, restart: p,
	})
	if err != nil {
		t.Fatalf("StartSupervisor: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// crash makes the supervised plugin exit (os.Exit in HandleForward) and
// checks that the forward failed unanswered.
func crash(t *testing.T, s *Supervisor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if _, err := s.Handle(ctx, forward("alpha", "exit")); !errors.Is(err, launcher.ErrPluginGone) {
		t.Fatalf("forward that crashes the plugin: err = %v, want ErrPluginGone", err)
	}
}

// replace swaps the executable at path for the one at src, as a deploy
// would: a new file renamed over the old one (the running process keeps
// its own).
func replace(t *testing.T, path, src string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	must(t, err)
	tmp := path + ".new"
	must(t, os.WriteFile(tmp, data, mode))
	must(t, os.Rename(tmp, path))
}

// TestRepeatedCrashes crashes a plugin again and again: each restart waits
// at least the policy's delay, the fifth crash in a row marks the plugin
// unhealthy, the next restart brings it back serving but still unhealthy,
// and only after a stable uptime is it up again, its crash count starting
// over.
func TestRepeatedCrashes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := install(t, dir, binaries.alpha, "alpha")
	clock := &fakeClock{now: time.Now()}
	policy := clock.policy()
	ev := newEvents()
	s := supervise(t, path, false, policy, ev)
	ev.waitFor(t, "alpha:up")

	for n := 1; n <= unhealthyAfter; n++ {
		crash(t, s)
		want := "alpha:down"
		if n == unhealthyAfter {
			want = "alpha:unhealthy"
		}
		got, down := ev.nextState(t)
		if got != want {
			t.Fatalf("crash %d: state %s, want %s", n, got, want)
		}
		// Once unhealthy, the restarted plugin serves but stays unhealthy.
		wantUp := "alpha:up"
		if n == unhealthyAfter {
			wantUp = "alpha:unhealthy"
		}
		if got, up := ev.nextState(t); got != wantUp {
			t.Fatalf("crash %d: state %s after %s, want %s", n, got, want, wantUp)
		} else if d, min := up.Sub(down), policy.delay(n-1); d < min {
			// A lower bound only: a loaded machine restarts later, never
			// sooner.
			t.Errorf("crash %d: restarted after %s, want at least %s", n, d, min)
		}
	}
	if st := s.Status(); st.State != StateUnhealthy || st.PID == 0 || st.Restarts != unhealthyAfter || st.Err != nil {
		t.Fatalf("after the restarts: %+v; want unhealthy but serving, with %d restarts", st, unhealthyAfter)
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if res, err := s.Handle(ctx, forward("alpha", "while unhealthy")); err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("an unhealthy plugin that runs must serve: %+v, %v", res, err)
	}
	// Not yet up for the stable period: still unhealthy.
	clock.advance(stableAfter - time.Second)
	if st := s.Status(); st.State != StateUnhealthy {
		t.Fatalf("up for %s: state %s, want still unhealthy", stableAfter-time.Second, st.State)
	}

	// Up for the stable period: reported up, and the next crash is the
	// first of a new run.
	clock.advance(time.Second)
	if got, _ := ev.nextState(t); got != "alpha:up" {
		t.Fatalf("after a stable uptime: state %s, want alpha:up", got)
	}
	crash(t, s)
	if got, _ := ev.nextState(t); got != "alpha:down" {
		t.Fatalf("crash after a stable uptime: state %s, want alpha:down (a new run of crashes)", got)
	}
	ev.waitFor(t, "alpha:up")
	if res, err := s.Handle(context.Background(), forward("alpha", "after")); err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("after the last restart: %+v, %v", res, err)
	}
}

// TestPinnedPluginReplacedOnDiskIsRefusedAtRestart replaces a pinned
// plugin's executable while it runs, then crashes it: the supervisor must
// not start the new executable, and says why.
func TestPinnedPluginReplacedOnDiskIsRefusedAtRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := install(t, dir, binaries.alpha, "alpha")
	pinned, err := FileSHA256(path)
	must(t, err)
	policy := defaultRestartPolicy()
	policy.baseDelay = 10 * time.Millisecond // refusals repeat quickly
	ev := newEvents()
	s := supervise(t, path, true, policy, ev)
	ev.waitFor(t, "alpha:up")

	replace(t, path, binaries.beta, 0o755)
	swapped, err := FileSHA256(path)
	must(t, err)
	crash(t, s)
	// Every restart is refused; refusals count as crashes, so the plugin
	// turns unhealthy without ever coming up.
	for _, want := range []string{"alpha:down", "alpha:unhealthy"} {
		if got, _ := ev.nextState(t); got != want {
			t.Fatalf("after the crash: state %s, want %s (the replaced executable must not start)", got, want)
		}
	}
	st := s.Status()
	want := PinError{Path: path, Got: swapped, Want: pinned}
	if pe := (*PinError)(nil); !errors.As(st.Err, &pe) || *pe != want {
		t.Fatalf("status error %#v, want %#v", st.Err, want)
	}
	if st.State != StateUnhealthy || st.PID != 0 {
		t.Errorf("status %+v; want unhealthy with no process", st)
	}
}

// TestDispatchWaitsForADownPluginUntilItsDeadline checks that a forward for
// a plugin that is down waits for it to come back, and gives up at the
// forward deadline.
func TestDispatchWaitsForADownPluginUntilItsDeadline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := install(t, dir, binaries.alpha, "alpha")
	const forwardTimeout = 300 * time.Millisecond
	policy := defaultRestartPolicy()
	policy.baseDelay = time.Hour // after the first failed restart, the plugin stays down
	ev := newEvents()
	m, err := Open(context.Background(), Config{Dir: dir, Observer: ev, ForwardTimeout: forwardTimeout, restart: policy,
		Logger: hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug})})
	must(t, err)
	t.Cleanup(m.Close)
	ev.waitFor(t, "alpha:up")

	// A broken executable: the restart fails and the next is an hour away.
	replace(t, path, binaries.alpha, 0o644)
	if _, err := m.Dispatch(context.Background(), forward("alpha", "exit")); !errors.Is(err, launcher.ErrPluginGone) {
		t.Fatalf("forward that crashes the plugin: err = %v, want ErrPluginGone", err)
	}
	ev.waitFor(t, "alpha:down")
	start := time.Now()
	_, err = m.Dispatch(context.Background(), forward("alpha", "while down"))
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "plugin alpha is down") {
		t.Fatalf("forward while the plugin is down: err = %v, want the forward deadline while it is down", err)
	}
	if elapsed < forwardTimeout {
		t.Errorf("gave up after %s, before the %s forward deadline", elapsed, forwardTimeout)
	}
}

// holdSocket listens on a Unix socket that the test plugin's "hold"
// forwards connect to; each accepted connection is one forward running in
// the plugin, held until the connection is closed.
func holdSocket(t *testing.T) (path string, accept func() net.Conn) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "hold.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	return path, func() net.Conn {
		t.Helper()
		must(t, ln.SetDeadline(time.Now().Add(eventTimeout)))
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("no forward reached the plugin: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// TestMaxInFlightBoundsDispatch holds MaxInFlight forwards in the plugin
// and checks that another one waits for a slot (until its deadline) and
// never reaches the plugin, and that slots are given back.
func TestMaxInFlightBoundsDispatch(t *testing.T) {
	t.Parallel()
	const maxInFlight = 2
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	m, err := Open(context.Background(), Config{Dir: dir, MaxInFlight: maxInFlight,
		Logger: hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug})})
	must(t, err)
	t.Cleanup(m.Close)
	sock, accept := holdSocket(t)
	hold := forward("alpha", "hold")
	hold.Profile = sock

	type outcome struct {
		res pluginapi.Result
		err error
	}
	held := make(chan outcome, maxInFlight)
	var conns []net.Conn
	for range maxInFlight {
		go func() {
			res, err := m.Dispatch(context.Background(), hold)
			held <- outcome{res, err}
		}()
		conns = append(conns, accept())
	}
	// Every slot is taken: one more forward waits for a slot until its
	// deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := m.Dispatch(ctx, hold); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a dispatch slot") {
		t.Fatalf("forward beyond MaxInFlight: err = %v, want a deadline while waiting for a dispatch slot", err)
	}
	for _, c := range conns {
		c.Close()
	}
	for range maxInFlight {
		if o := <-held; o.err != nil || len(o.res.Events) != 1 || o.res.Events[0].Text != "released" {
			t.Fatalf("held forward: %+v, %v", o.res, o.err)
		}
	}
	// The slots are free again.
	if res, err := m.Dispatch(context.Background(), forward("alpha", "after")); err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("forward after the held ones: %+v, %v", res, err)
	}
}

// syncBuffer is a log destination tests read while the logger writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// seen is closed when a line containing want is written.
	want string
	seen chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen != nil && bytes.Contains(p, []byte(b.want)) {
		select {
		case <-b.seen:
		default:
			close(b.seen)
		}
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openLogged opens a Manager on dir whose log goes to the test log and to
// the returned buffer.
func openLogged(t *testing.T, dir string, ev Observer, buf *syncBuffer) *Manager {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Output: ioMulti{testLog{t}, buf}, Level: hclog.Debug})
	m, err := Open(context.Background(), Config{Dir: dir, Logger: logger, Observer: ev})
	must(t, err)
	t.Cleanup(m.Close)
	return m
}

// ioMulti writes to each writer in turn.
type ioMulti []interface{ Write([]byte) (int, error) }

func (w ioMulti) Write(p []byte) (int, error) {
	for _, x := range w {
		if _, err := x.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// TestStoppingAPluginIsNotAnError stops the host while a plugin holds a
// forward and exits with status 3 when it sees the stop: the exit is the
// host's doing, so nothing is logged as an error.
func TestStoppingAPluginIsNotAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	var log syncBuffer
	m := openLogged(t, dir, nil, &log)
	sock, accept := holdSocket(t)
	hold := forward("alpha", "hold-exit")
	hold.Profile = sock
	failed := make(chan error, 1)
	go func() {
		_, err := m.Dispatch(context.Background(), hold)
		failed <- err
	}()
	accept()
	m.Close() // returns once the plugin process is gone
	if err := <-failed; !errors.Is(err, launcher.ErrPluginGone) {
		t.Errorf("forward held while the host stopped: err = %v, want ErrPluginGone", err)
	}
	out := log.String()
	if !strings.Contains(out, "plugin process exited") || !strings.Contains(out, "exit status 3") {
		t.Fatalf("the plugin's exit (status 3) was not logged:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "[ERROR]") {
			t.Errorf("stopping the plugin logged an error: %s", line)
		}
	}
}

// TestCrashIsLoggedAsAnError is the other side of
// TestStoppingAPluginIsNotAnError: a plugin that exits by itself crashed,
// and its exit is an error.
func TestCrashIsLoggedAsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	var log syncBuffer
	ev := newEvents()
	m := openLogged(t, dir, ev, &log)
	ev.waitFor(t, "alpha:up")
	if _, err := m.Dispatch(context.Background(), forward("alpha", "exit")); !errors.Is(err, launcher.ErrPluginGone) {
		t.Fatalf("forward that crashes the plugin: err = %v, want ErrPluginGone", err)
	}
	ev.waitFor(t, "alpha:down") // the exit is logged before the plugin is marked down
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "plugin process exited") && strings.Contains(line, "exit status 7") {
			if !strings.Contains(line, "[ERROR]") {
				t.Errorf("a crash was not logged as an error: %s", line)
			}
			return
		}
	}
	t.Fatalf("the crash (exit status 7) was not logged:\n%s", log.String())
}

// TestPluginIgnoresSIGTERM sends a plugin the SIGTERM a stopped process
// group gets: the plugin keeps serving, and the host stops it later.
func TestPluginIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	log := syncBuffer{want: "SIGTERM ignored", seen: make(chan struct{})}
	ev := newEvents()
	m := openLogged(t, dir, ev, &log)
	ev.waitFor(t, "alpha:up")
	pid := m.Statuses()[0].PID
	must(t, syscall.Kill(pid, syscall.SIGTERM))
	select {
	case <-log.seen:
	case e := <-ev.ch:
		t.Fatalf("after SIGTERM: %s", e.name)
	case <-time.After(eventTimeout):
		t.Fatal("the plugin did not report the SIGTERM")
	}
	res, err := m.Dispatch(context.Background(), forward("alpha", "still here"))
	if err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("forward after SIGTERM: %+v, %v", res, err)
	}
	if st := m.Statuses()[0]; st.PID != pid || st.Restarts != 0 || st.State != StateUp {
		t.Errorf("after SIGTERM: %+v; want the same process (pid %d), up, no restart", st, pid)
	}
}
