package agentapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// socketDir returns a short temporary directory (unix socket paths are
// limited to about 100 bytes).
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestListenUnixSocket(t *testing.T) {
	dir := socketDir(t)
	path := filepath.Join(dir, "agent.sock")
	l, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	link := newFakeLink(discordDesc())
	srv := NewServer(NewHandler(newService(t, link), []byte(testToken)))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	req, _ := http.NewRequest("POST", "http://agent-api/v1/actions", strings.NewReader(`{"op":"send","chat_id":"c1","content":"over a socket"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "send:c1:over a socke") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}

	t.Run("a live socket is not taken over", func(t *testing.T) {
		if _, err := Listen("unix:" + path); !errors.Is(err, ErrSocketInUse) {
			t.Fatalf("err %v, want ErrSocketInUse", err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after close: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	dir := socketDir(t)
	t.Run("a stale socket is replaced", func(t *testing.T) {
		path := filepath.Join(dir, "stale.sock")
		old, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		old.(*net.UnixListener).SetUnlinkOnClose(false)
		old.Close() // the process "died": the file stays, nobody listens
		l, err := Listen("unix:" + path)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		l.Close()
	})
	t.Run("a file that is not a socket is left alone", func(t *testing.T) {
		path := filepath.Join(dir, "file")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Listen("unix:" + path); !errors.Is(err, ErrNotSocket) {
			t.Fatalf("err %v, want ErrNotSocket", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "keep me" {
			t.Error("the file was touched")
		}
	})
	t.Run("the directory must exist", func(t *testing.T) {
		if _, err := Listen("unix:" + filepath.Join(dir, "no", "such.sock")); !errors.Is(err, ErrSocketDir) {
			t.Fatalf("err %v, want ErrSocketDir", err)
		}
	})
	t.Run("an empty path", func(t *testing.T) {
		if _, err := Listen("unix:"); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("tcp", func(t *testing.T) {
		l, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if _, err := Listen("127.0.0.1:notaport"); err == nil {
			t.Fatal("no error for a bad port")
		}
	})
}

func TestNewServerTimeouts(t *testing.T) {
	srv := NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("server without timeouts: %+v", srv)
	}
	// The write timeout must outlast a 30 s outbound wait and a 30 s media
	// stream.
	if srv.WriteTimeout < 2*MediaTimeout {
		t.Errorf("WriteTimeout %v is shorter than an outbound wait plus a media transfer", srv.WriteTimeout)
	}
}
