package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// fullPlugin implements every optional interface of the SDK.
type fullPlugin struct {
	mu        sync.Mutex
	settings  map[string]any
	secrets   map[string][]byte
	hang      chan struct{} // when set, every call waits for it (or ctx)
	healthErr error
	shutdowns chan struct{}
}

func (*fullPlugin) Info() pluginapi.Info {
	return pluginapi.Info{Name: "full", Version: "1", Platforms: []string{"full"},
		Config: &pluginapi.ConfigSchema{Settings: []pluginapi.SettingSpec{{Name: "greeting", Type: pluginapi.SettingString}}}}
}

func (p *fullPlugin) HandleForward(ctx context.Context, _ pluginapi.Forward) pluginapi.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, _ := p.settings["greeting"].(string)
	return pluginapi.Handle(pluginapi.MessageEvent{Text: g})
}

func (p *fullPlugin) wait(ctx context.Context) error {
	if p.hang == nil {
		return nil
	}
	select {
	case <-p.hang:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *fullPlugin) Configure(ctx context.Context, c pluginapi.Config) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	var s map[string]any
	if err := json.Unmarshal(c.Settings, &s); err != nil {
		return err
	}
	if s["greeting"] == "refuse me" {
		return errors.New("greeting not acceptable")
	}
	p.mu.Lock()
	p.settings, p.secrets = s, c.Secrets
	p.mu.Unlock()
	return nil
}

func (p *fullPlugin) HandleAction(ctx context.Context, a pluginapi.Action) pluginapi.ActionResult {
	if err := p.wait(ctx); err != nil {
		return pluginapi.ActionFailed("", "%v", err)
	}
	switch a.String("content") {
	case "panic":
		panic("boom")
	case "unencodable":
		return pluginapi.ActionResult{Success: true, Extra: map[string]any{"ch": make(chan int)}}
	case "override":
		return pluginapi.ActionResult{Success: false, Error: "no", Extra: map[string]any{"success": true, "thread_id": "t1"}}
	}
	return pluginapi.ActionResult{Success: true, MessageID: a.Platform + "/" + a.BotID + "/" + a.Op + "/" + a.String("chat_id"),
		Extra: map[string]any{"thread_id": "t9"}}
}

func (p *fullPlugin) CheckHealth(ctx context.Context) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	return p.healthErr
}

func (p *fullPlugin) Shutdown(context.Context) error {
	if p.shutdowns != nil {
		p.shutdowns <- struct{}{}
	}
	return nil
}

func TestCapabilitiesAdvertised(t *testing.T) {
	r := startInProcess(t, &fullPlugin{}, false)
	info, err := r.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{pluginlink.CapabilityConfigure, pluginlink.CapabilityEgress, pluginlink.CapabilityHealth, pluginlink.CapabilityShutdown} {
		if !info.HasCapability(c) {
			t.Errorf("capability %s not advertised: %v", c, info.Capabilities)
		}
	}
	if info.Config == nil || len(info.Config.Settings) != 1 || info.Config.Settings[0].Name != "greeting" || info.Config.Settings[0].Type != pluginapi.SettingString {
		t.Errorf("config schema did not round-trip: %+v", info.Config)
	}
	// A plugin implementing none of the interfaces advertises only what the
	// SDK answers for it.
	plain, err := startInProcess(t, echoPlugin{}, false).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if plain.HasCapability(pluginlink.CapabilityConfigure) || plain.HasCapability(pluginlink.CapabilityEgress) || plain.Config != nil {
		t.Errorf("plain plugin advertises %v, config %v", plain.Capabilities, plain.Config)
	}
}

func TestConfigureAcceptsAndRefuses(t *testing.T) {
	p := &fullPlugin{}
	r := startInProcess(t, p, false)
	ctx, cancel := context.WithTimeout(context.Background(), streamTestTimeout)
	defer cancel()
	if err := r.Configure(ctx, pluginapi.Config{Settings: json.RawMessage(`{"greeting":"hi"}`), Secrets: map[string][]byte{"k": []byte("s3cr3t\n")}}); err != nil {
		t.Fatal(err)
	}
	res, err := r.HandleForward(ctx, pluginapi.Forward{Platform: "full"})
	if err != nil || len(res.Events) != 1 || res.Events[0].Text != "hi" {
		t.Fatalf("forward after Configure: %+v, %v", res, err)
	}
	if string(p.secrets["k"]) != "s3cr3t\n" {
		t.Errorf("secret bytes = %q, want them exactly", p.secrets["k"])
	}
	err = r.Configure(ctx, pluginapi.Config{Settings: json.RawMessage(`{"greeting":"refuse me"}`)})
	var ce *ConfigureError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "greeting not acceptable") {
		t.Fatalf("refused configuration: err = %v, want a ConfigureError with the plugin's reason", err)
	}
	// The plugin kept its previous settings.
	if res, _ := r.HandleForward(ctx, pluginapi.Forward{Platform: "full"}); len(res.Events) != 1 || res.Events[0].Text != "hi" {
		t.Errorf("after a refusal the plugin answers %+v, want the old greeting", res)
	}
}

// TestCallsThatHangAreBounded checks that Configure, CheckHealth and
// HandleAction give up at the caller's deadline when the plugin hangs.
func TestCallsThatHangAreBounded(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	r := startInProcess(t, &fullPlugin{hang: hang}, false)
	const bound = 200 * time.Millisecond
	for name, call := range map[string]func(ctx context.Context) error{
		"Configure":   func(ctx context.Context) error { return r.Configure(ctx, pluginapi.Config{}) },
		"CheckHealth": func(ctx context.Context) error { return r.CheckHealth(ctx) },
		"HandleAction": func(ctx context.Context) error {
			res := r.HandleAction(ctx, "full", "", map[string]any{"op": "send"})
			if res.Success {
				return nil
			}
			return errors.New(res.Error)
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		start := time.Now()
		err := call(ctx)
		cancel()
		if err == nil {
			t.Errorf("%s on a hung plugin succeeded", name)
		}
		if d := time.Since(start); d > streamTestTimeout {
			t.Errorf("%s on a hung plugin took %s", name, d)
		}
	}
}

func TestHandleAction(t *testing.T) {
	r := startInProcess(t, &fullPlugin{}, false)
	ctx := context.Background()
	res := r.HandleAction(ctx, "full", "bot1", map[string]any{"op": "send", "chat_id": "c1", "content": "hello", "n": 2.0})
	if !res.Success || res.MessageID != "full/bot1/send/c1" || res.Raw["thread_id"] != "t9" || res.Raw["success"] != true || res.Raw["message_id"] != res.MessageID {
		t.Fatalf("action result %+v", res)
	}
	for content, wantErr := range map[string]string{
		"panic":       "panicked",
		"unencodable": "cannot be encoded",
	} {
		res := r.HandleAction(ctx, "full", "", map[string]any{"op": "send", "content": content})
		if res.Success || !strings.Contains(res.Error, wantErr) || res.Code != pluginapi.CodePluginFailed {
			t.Errorf("%s: result %+v, want a plugin_failed failure mentioning %q", content, res, wantErr)
		}
	}
	// Extra cannot override the result's own keys.
	if res := r.HandleAction(ctx, "full", "", map[string]any{"op": "send", "content": "override"}); res.Success || res.Raw["success"] != false || res.Raw["thread_id"] != "t1" {
		t.Errorf("override: %+v", res)
	}
	// A plugin without egress is never asked.
	plain := startInProcess(t, echoPlugin{}, false)
	if res := plain.HandleAction(ctx, "test", "", map[string]any{"op": "send"}); res.Success || res.Code != pluginapi.CodePluginFailed {
		t.Errorf("egress through a plugin without the capability: %+v", res)
	}
}

// garbageServer answers HandleAction with results no SDK would send.
type garbageServer struct {
	pluginv1.UnimplementedPluginServer
	inner pluginv1.PluginServer
	resp  *pluginv1.ActionResponse
}

func (g garbageServer) Info(ctx context.Context, req *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	return g.inner.Info(ctx, req)
}

func (g garbageServer) HandleBatches(s pluginv1.Plugin_HandleBatchesServer) error {
	return g.inner.HandleBatches(s)
}

func (g garbageServer) HandleAction(context.Context, *pluginv1.ActionRequest) (*pluginv1.ActionResponse, error) {
	return g.resp, nil
}

func TestHandleActionGarbage(t *testing.T) {
	extra, _ := structpb.NewStruct(map[string]any{"success": "yes", "error": 42.0, "nested": map[string]any{"a": []any{1.0}}})
	for name, resp := range map[string]*pluginv1.ActionResponse{
		"failure without error":  {},
		"reserved keys in extra": {Extra: extra},
		"nil response":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			srv, stopServer, err := pluginlink.NewServer(&fullPlugin{}, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			r, stop, err := serveInProcess(garbageServer{inner: srv, resp: resp}, stopServer)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			res := r.HandleAction(context.Background(), "full", "", map[string]any{"op": "send"})
			if res.Success || res.Error == "" || res.Raw["success"] != false {
				t.Errorf("garbage answer became %+v; want a failure with an error", res)
			}
			if _, ok := res.Raw["error"].(string); !ok {
				t.Errorf("error key is %T, want the string the host set", res.Raw["error"])
			}
		})
	}
}

func TestHealthAndShutdown(t *testing.T) {
	p := &fullPlugin{healthErr: errors.New("token expired"), shutdowns: make(chan struct{}, 1)}
	r := startInProcess(t, p, false)
	if err := r.CheckHealth(context.Background()); err == nil || err.Error() != "token expired" {
		t.Errorf("CheckHealth = %v, want the plugin's reason", err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.shutdowns:
	default:
		t.Error("Shutdown did not reach the plugin")
	}
	// A plugin built before SDK 1.0 is healthy while its link is up and
	// never asked to shut down.
	legacy := startInProcess(t, echoPlugin{}, true)
	if err := legacy.CheckHealth(context.Background()); err != nil {
		t.Errorf("legacy CheckHealth = %v", err)
	}
	if err := legacy.Shutdown(context.Background()); err != nil {
		t.Errorf("legacy Shutdown = %v", err)
	}
}
