package plugintest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// scripted is a plugin whose behaviour is chosen by the body.
type scripted struct {
	// release ends a "stuck" forward, which ignores its context.
	release chan struct{}
}

func (scripted) Info() pluginapi.Info {
	return pluginapi.Info{Name: "scripted", Version: "1.0.0", Platforms: []string{"test"}, Capabilities: []string{"x"}}
}

func (s scripted) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	switch string(f.Body) {
	case "panic":
		panic("boom with secret body")
	case "bogus":
		return pluginapi.Result{Disposition: "maybe"}
	case "drop-with-events":
		return pluginapi.Result{Disposition: pluginapi.Dropped, Reason: "x", Events: []pluginapi.MessageEvent{{Text: "leak"}}}
	case "badutf8":
		return pluginapi.Handle(pluginapi.MessageEvent{Text: string([]byte{0xff})})
	case "hang":
		<-ctx.Done()
		return pluginapi.Drop("cancelled")
	case "stuck":
		<-s.release
		return pluginapi.Drop("released")
	case "deadline":
		text := "none"
		if dl, ok := ctx.Deadline(); ok {
			text = dl.Format(time.RFC3339Nano)
		}
		return pluginapi.Handle(pluginapi.MessageEvent{Text: text})
	}
	src := pluginapi.SessionSource{Platform: f.Platform, ChatType: "dm", ChatID: "c", Profile: f.Profile}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: string(f.Body), MessageType: pluginapi.MessageTypeText,
		Source: src, SessionKey: pluginapi.SessionKey(src)})
}

func TestInProcess(t *testing.T) {
	h := plugintest.New(t, scripted{})
	if got := h.Info(); got.Name != "scripted" || got.Platforms[0] != "test" || !got.HasCapability("x") {
		t.Fatalf("Info() = %+v", got)
	}
	tests := []struct {
		body   string
		want   pluginapi.Disposition
		events int
	}{
		{"hello", pluginapi.Handled, 1},
		{"panic", pluginapi.Rejected, 0},
		{"bogus", pluginapi.Rejected, 0},
		{"drop-with-events", pluginapi.Dropped, 0},
		{"badutf8", pluginapi.Rejected, 0},
		{"hello again after the panic", pluginapi.Handled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			res := h.Body(t, "test", []byte(tt.body))
			if res.Disposition != tt.want || len(res.Events) != tt.events {
				t.Fatalf("got %s with %d events (%q), want %s with %d", res.Disposition, len(res.Events), res.Reason, tt.want, tt.events)
			}
			if strings.Contains(res.Reason, "secret body") {
				t.Errorf("reason leaks the panic value: %q", res.Reason)
			}
		})
	}
}

func TestInProcessOversizeBodyRejected(t *testing.T) {
	h := plugintest.New(t, scripted{})
	res := h.Body(t, "test", make([]byte, pluginapi.MaxBodyBytes+1))
	if res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, "limit") {
		t.Fatalf("got %+v, want rejected over the limit", res)
	}
}

func TestInProcessDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release) // before the harness stops: it waits for the stuck forward
	h := plugintest.New(t, scripted{release: release})
	// The forward's deadline reaches the plugin's context, exactly.
	ctx, cancel := context.WithTimeout(context.Background(), plugintest.ForwardTimeout)
	defer cancel()
	res, err := h.Forward(ctx, pluginapi.Forward{Platform: "test", Body: []byte("deadline")})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ctx.Deadline()
	if len(res.Events) != 1 || res.Events[0].Text != want.Format(time.RFC3339Nano) {
		t.Errorf("the plugin saw deadline %+v, want %s", res.Events, want.Format(time.RFC3339Nano))
	}
	// A plugin that ignores its deadline does not hold the host: the
	// forward fails with the deadline's error, not before it.
	const short = 100 * time.Millisecond
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), short)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := h.Forward(ctx, pluginapi.Forward{Platform: "test", Body: []byte("stuck")})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Forward past its deadline: err = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(plugintest.ForwardTimeout):
		t.Fatalf("Forward still waiting %s after its %s deadline", plugintest.ForwardTimeout, short)
	}
	if elapsed := time.Since(start); elapsed < short {
		t.Errorf("Forward gave up after %s, before its %s deadline", elapsed, short)
	}
	// The link still works afterwards.
	if res := h.Body(t, "test", []byte("ok")); res.Disposition != pluginapi.Handled {
		t.Fatalf("after a forward past its deadline: %+v", res)
	}
}

func TestSubprocessTwilio(t *testing.T) {
	h := plugintest.Start(t, plugintest.Build(t, "../../plugins/twilio"))
	if h.PID() == 0 {
		t.Fatal("no pid for a subprocess plugin")
	}
	if got := h.Info(); got.Name != "twilio" || len(got.Platforms) != 1 || got.Platforms[0] != "twilio" {
		t.Fatalf("Info() = %+v", got)
	}
	res := h.Body(t, "twilio", []byte("MessageSid=SM123&From=%2B15551234567&Body=secret+text"))
	if res.Disposition != pluginapi.Dropped || !strings.Contains(res.Reason, "not implemented") {
		t.Fatalf("got %+v, want dropped: not implemented", res)
	}
}
