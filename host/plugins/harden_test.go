package plugins

// Tests of the hardening of the plugin link (issue "Hardening", plugin
// side): each one runs real plugin processes and checks one defence.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// testLogger is a debug logger writing to the test log.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug})
}

// dispatch runs one forward through m within eventTimeout.
func dispatch(t *testing.T, m *Manager, f pluginapi.Forward) (pluginapi.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return m.Dispatch(ctx, f)
}

// awaitExit waits, blocking on the kernel through a pidfd, until pid has
// exited, for at most eventTimeout.
func awaitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already gone (ESRCH)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	_, _ = unix.Poll(fds, int(eventTimeout/time.Millisecond))
	if alive(pid) {
		t.Errorf("process %d is still alive %s later", pid, eventTimeout)
	}
}

// TestUnencodableForwardFailsAlone sends forwards that protobuf cannot
// marshal (strings that are not UTF-8) or gRPC cannot send (over the
// message limit) while other forwards are in flight on the same batched
// stream: each bad one is rejected alone with a reason naming the field,
// and the plugin, the held forward and the good forwards are untouched.
func TestUnencodableForwardFailsAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	ev := newEvents()
	m := open(t, dir, ev)
	ev.waitFor(t, "alpha:up")
	before := m.Statuses()[0]

	sock, accept := holdSocket(t)
	hold := forward("alpha", "hold")
	hold.Profile = sock
	held := make(chan error, 1)
	go func() {
		res, err := dispatch(t, m, hold)
		if err == nil && (len(res.Events) != 1 || res.Events[0].Text != "released") {
			err = errors.New("held forward: " + res.Reason)
		}
		held <- err
	}()
	conn := accept() // the held forward is in the plugin

	bad := map[string]pluginapi.Forward{}
	withPath := forward("alpha", "x")
	withPath.Path = "/alpha/\xff"
	bad["path"] = withPath
	withMethod := forward("alpha", "x")
	withMethod.Method = "{\"\xff\":1}"
	bad["method"] = withMethod
	withHeader := forward("alpha", "x")
	withHeader.Headers = []pluginapi.Header{{Name: "ok", Value: "fine"}, {Name: "x-bad", Value: "{\"a\":\"\xff\"}"}}
	bad["header 1"] = withHeader
	withBuffer := forward("alpha", "x")
	withBuffer.BufferID = "buf-\xfe"
	bad["bufferId"] = withBuffer
	withProfile := forward("alpha", "x")
	withProfile.Profile = "\xc3"
	bad["profile"] = withProfile
	huge := forward("alpha", "x")
	huge.Headers = []pluginapi.Header{{Name: "x-huge", Value: strings.Repeat("h", pluginapi.MaxMessageBytes+1)}}
	bad["over the"] = huge

	const good = 200
	var wg sync.WaitGroup
	errs := make(chan error, good+len(bad))
	for i := range good {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := "good-" + strconv.Itoa(i)
			res, err := dispatch(t, m, forward("alpha", body))
			if err != nil || res.Disposition != pluginapi.Handled || len(res.Events) != 1 || res.Events[0].Text != body {
				errs <- errors.New("good forward " + body + ": " + res.Reason + " " + errString(err))
			}
		}()
	}
	for want, f := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := dispatch(t, m, f)
			if err != nil || res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, want) {
				errs <- errors.New("bad forward (" + want + "): " + string(res.Disposition) + " " + res.Reason + " " + errString(err))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	conn.Close()
	if err := <-held; err != nil {
		t.Errorf("the forward in flight: %v", err)
	}
	if after := m.Statuses()[0]; after.PID != before.PID || after.Restarts != 0 || after.State != StateUp {
		t.Errorf("plugin after the bad forwards: %+v; want the same process (pid %d), up, never restarted", after, before.PID)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestResultCaps has plugins return more events, or more bytes, than a
// result may carry: the SDK rejects such a result in the plugin, the host
// rejects one from a plugin built without the SDK, each with a reason
// naming the cap (the two ends word it differently, so the test knows which
// one rejected), and the plugin keeps serving on the same stream.
func TestResultCaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	install(t, dir, binaries.raw, "raw")
	m := open(t, dir, nil)
	before := map[string]int{}
	for _, st := range m.Statuses() {
		before[st.Name] = st.PID
	}
	for _, tt := range []struct {
		name, platform, body, want string
	}{
		{"the SDK caps events", "alpha", "many-events", "result has 200000 events, over the 100-event limit (pluginapi.MaxResultEvents)"},
		{"the SDK caps bytes", "alpha", "huge-result", "bytes encoded, over the 8388608-byte limit (pluginapi.MaxResultBytes)"},
		{"the host caps events", "raw", "many-events", "plugin returned 200000 events, over the 100-event limit (pluginapi.MaxResultEvents)"},
		{"the host caps bytes", "raw", "big-result", "-byte result, over the 8388608-byte limit (pluginapi.MaxResultBytes)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := dispatch(t, m, forward(tt.platform, tt.body))
			if err != nil || res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, tt.want) || len(res.Events) != 0 {
				t.Fatalf("result: %s %q (%d events), %v; want rejected with %q", res.Disposition, res.Reason, len(res.Events), err, tt.want)
			}
			res, err = dispatch(t, m, forward(tt.platform, "after"))
			if err != nil || res.Disposition != pluginapi.Handled || len(res.Events) != 1 || res.Events[0].Text != "after" {
				t.Fatalf("forward after it: %+v, %v", res, err)
			}
		})
	}
	for _, st := range m.Statuses() {
		if st.PID != before[st.Name] || st.Restarts != 0 {
			t.Errorf("plugin %s: %+v; want the same process, never restarted", st.Name, st)
		}
	}
}

// TestWedgedPluginIsRestartedAndReportedUnhealthy wedges a plugin (it
// stops answering, deadline or not): after wedgeAfter forwards in a row
// time out it is restarted, reported unhealthy while the new process
// serves, and reported up once that one has been up for the stable period.
func TestWedgedPluginIsRestartedAndReportedUnhealthy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	clock := &fakeClock{now: time.Now()}
	ev := newEvents()
	m, err := Open(context.Background(), Config{Dir: dir, Observer: ev, ForwardTimeout: 300 * time.Millisecond,
		Logger: testLogger(t), restart: clock.policy()})
	must(t, err)
	t.Cleanup(m.Close)
	ev.waitFor(t, "alpha:up")
	wedgedPID := m.Statuses()[0].PID

	for i, body := range []string{"wedge", "after the wedge", "still wedged"} {
		if _, err := m.Dispatch(context.Background(), forward("alpha", body)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("forward %d to the wedged plugin: err = %v, want its deadline", i+1, err)
		}
		if i < wedgeAfter-1 && !m.Healthy() {
			t.Fatalf("unhealthy after %d timeouts, want it only after %d", i+1, wedgeAfter)
		}
	}
	for _, want := range []string{"alpha:unhealthy", "alpha:restarted", "alpha:unhealthy"} {
		ev.waitFor(t, want)
	}
	st := m.Statuses()[0]
	if st.State != StateUnhealthy || st.PID == 0 || st.PID == wedgedPID || st.Restarts != 1 || m.Healthy() {
		t.Fatalf("after the wedge: %+v (healthy %v); want a new process, serving, reported unhealthy", st, m.Healthy())
	}
	awaitExit(t, wedgedPID)
	if res, err := dispatch(t, m, forward("alpha", "served")); err != nil || res.Disposition != pluginapi.Handled {
		t.Fatalf("forward to the restarted plugin: %+v, %v", res, err)
	}
	clock.advance(stableAfter)
	ev.waitFor(t, "alpha:up")
	if !m.Healthy() {
		t.Fatalf("after a stable uptime: %+v, want healthy", m.Statuses()[0])
	}
}

// TestTimeoutsWithAnswersInBetweenAreNotAWedge checks that forwards that
// time out now and then, with answers in between or meanwhile (a slow or
// overloaded plugin), never restart a plugin.
func TestTimeoutsWithAnswersInBetweenAreNotAWedge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := install(t, dir, binaries.alpha, "alpha")
	s := supervise(t, path, false, defaultRestartPolicy(), nil)
	pid := s.Status().PID
	// A stalled forward times out at its deadline; an answered one has all
	// the time a loaded machine may need.
	stall := func(sock string, deadline time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		f := forward("alpha", "stall")
		f.Profile = sock
		_, err := s.Handle(ctx, f)
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("stalled forward: err = %v, want its deadline", err)
		}
		return nil
	}
	answer := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		if res, err := s.Handle(ctx, forward("alpha", "answered")); err != nil || res.Disposition != pluginapi.Handled {
			t.Fatalf("answered forward: %+v, %v", res, err)
		}
	}
	for range 2 {
		for range wedgeAfter - 1 {
			must(t, stall("", 300*time.Millisecond))
		}
		answer()
	}
	if st := s.Status(); st.PID != pid || st.Restarts != 0 || st.State != StateUp {
		t.Fatalf("after timeouts with answers in between: %+v, want the same process, up", st)
	}

	// Many forwards time out at once while the plugin answers others: an
	// overloaded plugin, not a wedged one. The answers start once every
	// stalled forward is in the plugin, so they overlap all of them.
	sock, accept := holdSocket(t)
	stalls := make(chan error, 3*wedgeAfter)
	for range cap(stalls) {
		go func() { stalls <- stall(sock, 3*time.Second) }()
	}
	for range cap(stalls) {
		accept()
	}
	for done := 0; done < cap(stalls); {
		select {
		case err := <-stalls:
			must(t, err)
			done++
		default:
			answer()
		}
	}
	if st := s.Status(); st.PID != pid || st.Restarts != 0 || st.State != StateUp {
		t.Fatalf("after concurrent timeouts with answers meanwhile: %+v, want the same process, up", st)
	}
}

// TestPluginDescendantsDieWithIt has a plugin start a process that would
// outlive it (`sleep 300`), then crashes the plugin, and then stops the
// host: each time, what the plugin started dies with it.
func TestPluginDescendantsDieWithIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	ev := newEvents()
	m := open(t, dir, ev)
	ev.waitFor(t, "alpha:up")
	forkSleep := func() int {
		t.Helper()
		res, err := dispatch(t, m, forward("alpha", "fork-sleep"))
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("fork-sleep: %+v, %v", res, err)
		}
		pid, err := strconv.Atoi(res.Events[0].Text)
		if err != nil || !alive(pid) {
			t.Fatalf("fork-sleep answered %q, not a live pid", res.Events[0].Text)
		}
		return pid
	}

	orphan := forkSleep()
	if _, err := dispatch(t, m, forward("alpha", "exit")); !errors.Is(err, launcher.ErrPluginGone) {
		t.Fatalf("forward that crashes the plugin: err = %v, want ErrPluginGone", err)
	}
	ev.waitFor(t, "alpha:up")
	awaitExit(t, orphan)

	orphan = forkSleep()
	m.Close()
	awaitExit(t, orphan)
}

// TestPinnedStartRunsTheFileItHashed starts a pinned plugin 300 times
// while another process keeps renaming a different binary over it, as a
// deploy (or an attacker with write access) would: a start may be refused,
// but never runs the binary that is not pinned.
func TestPinnedStartRunsTheFileItHashed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := install(t, dir, binaries.alpha, "alpha")
	sum, err := FileSHA256(path)
	must(t, err)
	pinned, _ := hex.DecodeString(sum)
	pinnedCopy, other := filepath.Join(dir, ".alpha"), filepath.Join(dir, ".beta")
	must(t, os.Link(path, pinnedCopy))
	install(t, dir, binaries.beta, "beta")
	must(t, os.Rename(filepath.Join(dir, FilePrefix+"beta"), other))

	stop, swapped := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { swapped <- n }()
		tmp := path + ".swap"
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			src := pinnedCopy
			if n%2 == 0 {
				src = other
			}
			if err := os.Link(src, tmp); err != nil {
				t.Errorf("link: %v", err)
				return
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Errorf("rename: %v", err)
				return
			}
		}
	}()

	const starts, parallel = 300, 4
	var ran, refused, unpinned atomic.Int32
	var wg sync.WaitGroup
	next := make(chan struct{}, starts)
	for range starts {
		next <- struct{}{}
	}
	close(next)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				proc, err := launcher.Launch(context.Background(), launcher.LaunchConfig{
					Path: path, Env: launcher.PluginEnv("error"), Checksum: pinned, CheckPermissions: true})
				var ce *launcher.ChecksumError
				switch {
				case errors.As(err, &ce):
					refused.Add(1)
				case err != nil:
					t.Errorf("start: %v", err)
				default:
					ran.Add(1)
					if proc.Info.Name != "alpha" {
						unpinned.Add(1)
					}
					proc.Kill()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	n := <-swapped
	t.Logf("%d starts: %d started (%d of them the binary that is not pinned), %d refused; %d swaps meanwhile", starts, ran.Load(), unpinned.Load(), refused.Load(), n)
	if unpinned.Load() != 0 {
		t.Fatalf("%d of %d starts ran a binary that is not the pinned one", unpinned.Load(), starts)
	}
	if ran.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("the swaps did not race the starts (%d ran, %d refused): the test proves nothing", ran.Load(), refused.Load())
	}
}

// TestUnsafePermissionsAreRefused makes the plugins directory, a plugin or
// the pin file changeable by others: Open refuses each with a
// *launcher.PermissionError naming it, and a launch refuses a plugin that
// became writable after the host started.
func TestUnsafePermissionsAreRefused(t *testing.T) {
	t.Parallel()
	type setup func(t *testing.T, dir, plugin string) (kind, path string)
	chmod := func(mode os.FileMode, which func(dir, plugin string) (string, string)) setup {
		return func(t *testing.T, dir, plugin string) (string, string) {
			kind, path := which(dir, plugin)
			must(t, os.Chmod(path, mode))
			return kind, path
		}
	}
	theDir := func(dir, _ string) (string, string) { return launcher.KindDirectory, dir }
	thePlugin := func(_, plugin string) (string, string) { return launcher.KindPlugin, plugin }
	thePinFile := func(dir, _ string) (string, string) {
		return launcher.KindPinFile, filepath.Join(dir, PinFileName)
	}
	cases := map[string]struct {
		setup    setup
		writable string
	}{
		"a world-writable directory":  {chmod(0o777, theDir), "group and others"},
		"a group-writable directory":  {chmod(0o775, theDir), "group"},
		"a world-writable plugin":     {chmod(0o777, thePlugin), "group and others"},
		"a group-writable plugin":     {chmod(0o775, thePlugin), "group"},
		"an others-writable pin file": {chmod(0o646, thePinFile), "others"},
		"a plugin owned by another uid": {func(t *testing.T, _, plugin string) (string, string) {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a file to another user")
			}
			must(t, os.Chown(plugin, 65534, 65534))
			return launcher.KindPlugin, plugin
		}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			plugin := install(t, dir, binaries.alpha, "alpha")
			cands, _, err := Discover(dir)
			must(t, err)
			must(t, WritePins(dir, cands))
			kind, path := tc.setup(t, dir, plugin)
			m, err := Open(context.Background(), Config{Dir: dir, Logger: testLogger(t)})
			if err == nil {
				m.Close()
				t.Fatalf("Open accepted %s", name)
			}
			var pe *launcher.PermissionError
			if !errors.As(err, &pe) || pe.Kind != kind || pe.Path != path || pe.Writable() != tc.writable {
				t.Fatalf("Open: %v; want a PermissionError for %s %s writable by %q", err, kind, path, tc.writable)
			}
			if tc.writable == "" && (pe.Owner != 65534 || !strings.Contains(err.Error(), "owned by uid 65534")) {
				t.Fatalf("Open: %v (owner %d); want it to name the owner", err, pe.Owner)
			}
		})
	}

	t.Run("a plugin made writable after the start is refused at its restart", func(t *testing.T) {
		dir := t.TempDir()
		path := install(t, dir, binaries.alpha, "alpha")
		policy := defaultRestartPolicy()
		policy.baseDelay = 10 * time.Millisecond // refusals repeat quickly
		ev := newEvents()
		s := supervise(t, path, false, policy, ev)
		ev.waitFor(t, "alpha:up")
		must(t, os.Chmod(path, 0o757))
		crash(t, s)
		ev.waitFor(t, "alpha:unhealthy") // every restart is refused
		var pe *launcher.PermissionError
		if st := s.Status(); !errors.As(st.Err, &pe) || pe.Kind != launcher.KindPlugin || pe.Writable() != "others" || st.PID != 0 {
			t.Fatalf("status %+v; want the restart refused with a PermissionError for the plugin", st)
		}
	})
}

// TestPluginUser starts plugins under another user: as root they run as
// that user; otherwise the start fails, since only root can do it.
func TestPluginUser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	nobody := &launcher.User{Name: "nobody", UID: 65534, GID: 65534}
	m, err := Open(context.Background(), Config{Dir: dir, Logger: testLogger(t), User: nobody})
	if os.Geteuid() != 0 {
		if err == nil {
			m.Close()
			t.Fatal("a plugin started under another user without root")
		}
		return
	}
	must(t, err)
	t.Cleanup(m.Close)
	res, err := dispatch(t, m, forward("alpha", "uid"))
	if err != nil || len(res.Events) != 1 || res.Events[0].Text != "uid=65534 gid=65534" {
		t.Fatalf("plugin identity: %+v, %v; want uid=65534 gid=65534", res, err)
	}
}
