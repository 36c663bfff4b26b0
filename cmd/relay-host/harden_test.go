package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

// nobody is the unprivileged account the tests use when they run as root.
const nobody = 65534

// sharedInstall lays out relay-host, and a plugins directory holding the
// scriptable test plugin, where any user may read and run them (the tests'
// own temporary directories are private to the user running them).
func sharedInstall(t *testing.T) (relayHost, plugins string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "relay-host-shared")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	plugins = filepath.Join(dir, "plugins")
	must(t, os.Mkdir(plugins, 0o755))
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chmod(plugins, 0o755)) // whatever the umask
	relayHost = filepath.Join(dir, "relay-host")
	copyFile(t, bins.relayHost, relayHost)
	copyFile(t, bins.testPlugin, filepath.Join(plugins, "relay-plugin-test"))
	return relayHost, plugins
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// asUnprivileged makes cmd run as nobody when the tests run as root, so
// that the host is an ordinary user, as in production; otherwise it runs as
// the tests' own (unprivileged) user.
func asUnprivileged(cmd *exec.Cmd) {
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
}

// testForwardText sends the test plugin a live forward with body (and
// profile) and returns the text of the event the stdout agent prints.
func testForwardText(t *testing.T, srv *relaytest.Server, p *process, body, profile string) string {
	t.Helper()
	f := pluginapi.Forward{Platform: "test", BotID: "bot-1", Method: "POST", Path: "/test", Body: []byte(body), Profile: profile}
	if err := srv.SendPassthrough(f); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("relay-host closed its output; stderr:\n%s", p.stderr.String())
			}
			var ev pluginapi.MessageEvent
			if json.Unmarshal([]byte(line), &ev) == nil {
				return ev.Text
			}
		case <-ctx.Done():
			t.Fatalf("no event for %q; stderr:\n%s", body, p.stderr.String())
		}
	}
}

// TestPluginCannotReadTheHostsSecret runs the host as an ordinary user,
// with the secret in $RELAY_SECRET, and a plugin of the same user that
// tries to read the host's environment through /proc: it is refused (the
// host is not dumpable), and the host's environment no longer holds the
// secret anyway.
func TestPluginCannotReadTheHostsSecret(t *testing.T) {
	t.Parallel()
	relayHost, plugins := sharedInstall(t)
	srv := connector(t, relaytest.Options{})
	cmd := exec.Command(relayHost, "run", "--connector", srv.URL(), "--gateway-id", testGatewayID,
		"--identity", "test:bot-1", "--agent", "stdout", "--plugins-dir", plugins, "--log-level", "debug")
	asUnprivileged(cmd)
	p := startCmd(t, cmd, []string{"RELAY_SECRET=" + testSecret})
	if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, p.stderr.String())
	}
	host := p.cmd.Process.Pid
	environ := fmt.Sprintf("/proc/%d/environ", host)
	if got, want := testForwardText(t, srv, p, "environ", ""), "error:open "+environ+": permission denied"; got != want {
		t.Fatalf("the plugin read the host's environment: %.200q, want %q", got, want)
	}
	data, err := os.ReadFile(environ)
	switch {
	case os.Geteuid() == 0 && err != nil:
		t.Fatalf("read %s as root: %v", environ, err)
	case os.Geteuid() == 0 && (strings.Contains(string(data), "RELAY_SECRET") || strings.Contains(string(data), testSecret)):
		t.Fatalf("%s still holds RELAY_SECRET", environ)
	case os.Geteuid() != 0 && !errors.Is(err, fs.ErrPermission):
		t.Fatalf("read %s as the host's user: %v, want permission denied", environ, err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// TestPluginUser starts the plugins as another user: as root, the plugin
// runs as nobody and can read neither the host's environment nor its
// secret file; not as root, the flag is refused with what to do.
func TestPluginUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		r := relayHost(t, "", "run", "--connector", "http://127.0.0.1:1", "--identity", "test:bot-1", "--plugin-user", "nobody")
		if r.code != exitFailure || !strings.Contains(r.stderr, "--plugin-user nobody: relay-host must run as root") {
			t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 saying it needs root", r.code, r.stderr)
		}
		return
	}
	t.Run("refused when the host is not root", func(t *testing.T) {
		relayHost, _ := sharedInstall(t)
		cmd := exec.Command(relayHost, "run", "--connector", "http://127.0.0.1:1", "--identity", "test:bot-1", "--plugin-user", "nobody")
		asUnprivileged(cmd)
		p := startCmd(t, cmd, nil)
		if code := p.wait(t); code != exitFailure || !strings.Contains(p.stderr.String(), "--plugin-user nobody: relay-host must run as root") {
			t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 saying it needs root", code, p.stderr.String())
		}
	})
	t.Run("plugins run as that user", func(t *testing.T) {
		srv := connector(t, relaytest.Options{})
		secret := secretFile(t)
		p := start(t, nil, "run", "--connector", srv.URL(), "--gateway-id", testGatewayID, "--secret-file", secret,
			"--identity", "test:bot-1", "--agent", "stdout", "--plugins-dir", pluginsDir(t, true), "--plugin-user", "nobody")
		if err := srv.WaitHandshake(testCtx(t), 1); err != nil {
			t.Fatalf("%v; stderr:\n%s", err, p.stderr.String())
		}
		if got, want := testForwardText(t, srv, p, "uid", ""), fmt.Sprintf("uid=%d gid=%d", nobody, nobody); got != want {
			t.Fatalf("plugin identity %q, want %q", got, want)
		}
		if got := testForwardText(t, srv, p, "read-file", secret); !strings.HasPrefix(got, "error:") || !strings.Contains(got, "permission denied") {
			t.Fatalf("the plugin read the secret file: %.200q", got)
		}
		if got := testForwardText(t, srv, p, "environ", ""); !strings.Contains(got, "permission denied") {
			t.Fatalf("the plugin read the host's environment: %.200q", got)
		}
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t); code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
	})
}

// TestWritablePluginsAreRefusedWithTheFix makes the plugins directory and
// a plugin writable by others: run refuses to start, naming each and the
// command that fixes it.
func TestWritablePluginsAreRefusedWithTheFix(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	dir := pluginsDir(t, false)
	plugin := filepath.Join(dir, "relay-plugin-twilio")
	must(t, os.Chmod(dir, 0o777))
	must(t, os.Chmod(plugin, 0o775))
	r := relayHost(t, "", runArgs(srv, secretFile(t), dir)...)
	for _, want := range []string{
		"plugins directory " + dir + " is writable by group and others (mode 0777): only its owner may write it; run `chmod go-w " + dir + "`",
		"plugin " + plugin + " is writable by group (mode 0775): only its owner may write it; run `chmod go-w " + plugin + "`",
	} {
		if r.code != exitFailure || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1 with %q", r.code, r.stderr, want)
		}
	}
}
