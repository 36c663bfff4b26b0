package plugins

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/pluginapi"
)

// Each plugin has its own dispatch window: a plugin whose forwards all hang
// cannot take the slots another plugin's forwards need (issue 15, High 2:
// a slow plugin delayed Discord by 9.86 s because the 256 slots were
// shared).
func TestEachPluginHasItsOwnWindow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	install(t, dir, binaries.beta, "beta")
	const window = 2
	m, err := Open(context.Background(), Config{Dir: dir, MaxInFlight: window,
		Logger: hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)

	// Fill alpha's window with forwards the plugin holds until released.
	sock := filepath.Join(t.TempDir(), "hold.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	held := make(chan error, window)
	for range window {
		go func() {
			f := forward("alpha", "hold")
			f.Profile = sock
			_, err := m.Dispatch(ctx, f)
			held <- err
		}()
	}
	var conns []net.Conn
	for range window {
		c, err := ln.Accept() // the forward is in the plugin, holding a slot
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}

	bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
	defer bcancel()
	res, err := m.Dispatch(bctx, forward("beta", "hello beta"))
	if err != nil || res.Disposition != pluginapi.Handled {
		t.Errorf("beta's forward while alpha's window is full: %+v, %v", res, err)
	}
	for _, c := range conns {
		c.Close()
	}
	for range window {
		if err := <-held; err != nil {
			t.Errorf("alpha's held forward: %v", err)
		}
	}
}
