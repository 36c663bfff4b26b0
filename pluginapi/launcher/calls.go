package launcher

// This file is the host's side of the RPCs added with SDK 1.0: Configure,
// HandleAction, CheckHealth and Shutdown. Each is used only when the plugin
// advertised its capability, and each is bounded by a deadline.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Deadlines of the SDK 1.0 calls.
const (
	// ConfigureTimeout bounds Configure. Taking settings is bookkeeping
	// (perhaps a client built); as with the handshake
	// (pluginapi.DefaultStartTimeout), a plugin slower than this is broken.
	ConfigureTimeout = pluginapi.DefaultStartTimeout
	// HealthTimeout bounds CheckHealth: /readyz is polled by probes with
	// timeouts of a few seconds, so a health check must answer well within.
	HealthTimeout = 2 * time.Second
	// ActionTimeout bounds HandleAction when the caller's context has no
	// earlier deadline: the connector's outbound timeout (30 s,
	// docs/protocol.md, Outbound results), the budget an agent already
	// expects for one action.
	ActionTimeout = 30 * time.Second
	// ShutdownTimeout bounds Shutdown before the process is killed: well
	// inside the 10 s a service manager gives the host to stop.
	ShutdownTimeout = 3 * time.Second
)

// ConfigureError says a plugin refused its configuration (or failed to
// answer Configure in time).
type ConfigureError struct {
	// Plugin is the plugin's name.
	Plugin string
	// Err is the plugin's refusal.
	Err error
}

// Error states the facts.
func (e *ConfigureError) Error() string {
	return fmt.Sprintf("plugin %s refused its configuration: %v", e.Plugin, e.Err)
}

// Unwrap returns the refusal.
func (e *ConfigureError) Unwrap() error { return e.Err }

// ErrNoCapability is returned for a call the plugin did not advertise.
var ErrNoCapability = errors.New("the plugin does not advertise this capability")

// configureAtStart asks cfg.Configure for the plugin's configuration and
// hands it over, before the first forward.
func configureAtStart(ctx context.Context, cfg LaunchConfig, r *Remote, info pluginapi.Info) error {
	name := filepath.Base(cfg.Path)
	if cfg.Configure == nil {
		return nil
	}
	c, err := cfg.Configure(info)
	if err != nil {
		return err // the host's own error, which names the plugin
	}
	if c == nil {
		return nil
	}
	if !info.HasCapability(pluginlink.CapabilityConfigure) {
		return fmt.Errorf("plugin %s has a configuration but takes none (it does not implement pluginapi.Configurer)", name)
	}
	if err := r.Configure(ctx, *c); err != nil {
		return err
	}
	return nil
}

// has reports whether the plugin advertised capability c (as of its Info).
func (r *Remote) has(c string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info.HasCapability(c)
}

// Configure hands the plugin a configuration, within ConfigureTimeout. A
// refusal is a *ConfigureError; the plugin keeps its previous
// configuration.
func (r *Remote) Configure(ctx context.Context, c pluginapi.Config) error {
	settings := c.Settings
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	ctx, cancel := context.WithTimeout(ctx, ConfigureTimeout)
	defer cancel()
	r.mu.Lock()
	r.generation++
	gen := r.generation
	r.mu.Unlock()
	_, err := r.client.Configure(ctx, &pluginv1.ConfigureRequest{SettingsJson: settings, Secrets: c.Secrets, Generation: gen})
	if err != nil {
		return &ConfigureError{Plugin: r.name(), Err: rpcError(err)}
	}
	return nil
}

// HandleAction sends one agent action to a plugin with the egress
// capability and returns its answer, shaped like a connector's
// outbound_result. It never fails: a plugin that does not answer in time,
// breaks or answers something unusable gives a failed result with code
// pluginapi.CodePluginFailed (Ambiguous when the action may have been
// carried out).
func (r *Remote) HandleAction(ctx context.Context, platform, botID string, action map[string]any) ActionResult {
	if !r.has(pluginlink.CapabilityEgress) {
		return actionFailure(fmt.Sprintf("plugin %s does no egress", r.name()), false)
	}
	st, err := structpb.NewStruct(action)
	if err != nil {
		return actionFailure(fmt.Sprintf("action cannot be sent to plugin %s: %v", r.name(), err), false)
	}
	ctx, cancel := context.WithTimeout(ctx, ActionTimeout)
	defer cancel()
	req := &pluginv1.ActionRequest{Platform: platform, BotId: botID, Action: st}
	if dl, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = dl.UnixNano()
	}
	resp, err := r.client.HandleAction(ctx, req)
	if err != nil {
		// The request was sent: the plugin may have acted on it.
		return actionFailure(fmt.Sprintf("plugin %s did not answer the action: %v", r.name(), rpcError(err)), true)
	}
	return actionResultFromWire(resp)
}

// actionFailure is the host's own failed result for an action, with code
// pluginapi.CodePluginFailed; ambiguous when the plugin may have carried
// the action out.
func actionFailure(msg string, ambiguous bool) ActionResult {
	raw := map[string]any{"success": false, "error": msg, "code": pluginapi.CodePluginFailed}
	if ambiguous {
		raw["ambiguous"] = true
	}
	return ActionResult{Error: msg, Code: pluginapi.CodePluginFailed, Ambiguous: ambiguous, Raw: raw}
}

// ActionResult is a plugin's answer to an action, as the host uses it: the
// fields of a connector's outbound_result.
type ActionResult struct {
	// Success, MessageID, Error and Code are the result's keys.
	Success   bool
	MessageID string
	Error     string
	Code      string
	// Ambiguous is set when the plugin did not answer after the action was
	// sent: it may have been carried out.
	Ambiguous bool
	// Raw is the whole result object (the keys above and the plugin's
	// extra keys).
	Raw map[string]any
}

// actionResultFromWire converts a plugin's answer. A success without
// anything else is fine; a failure without an error gets one.
func actionResultFromWire(w *pluginv1.ActionResponse) ActionResult {
	res := ActionResult{Success: w.GetSuccess(), MessageID: w.GetMessageId(), Error: w.GetError(), Code: w.GetCode()}
	if !res.Success && res.Error == "" {
		res.Error = "the plugin reported a failure without saying why"
	}
	raw := map[string]any{}
	for k, v := range w.GetExtra().GetFields() {
		raw[k] = v.AsInterface()
	}
	raw["success"] = res.Success
	for k, v := range map[string]string{"message_id": res.MessageID, "error": res.Error, "code": res.Code} {
		if v != "" {
			raw[k] = v
		} else {
			delete(raw, k)
		}
	}
	res.Raw = raw
	return res
}

// CheckHealth asks the plugin whether it can do its work, within
// HealthTimeout. A plugin without the health capability is healthy when
// its link is up. The error says why it is not healthy.
func (r *Remote) CheckHealth(ctx context.Context) error {
	if err := r.Err(); err != nil {
		return err
	}
	if !r.has(pluginlink.CapabilityHealth) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	resp, err := r.client.CheckHealth(ctx, &pluginv1.HealthRequest{})
	switch {
	case err != nil:
		return fmt.Errorf("health check: %w", rpcError(err))
	case !resp.GetOk():
		msg := resp.GetMessage()
		if msg == "" {
			msg = "the plugin reports itself unhealthy"
		}
		return errors.New(msg)
	}
	return nil
}

// Shutdown asks the plugin to finish up, within ShutdownTimeout (or ctx's
// earlier deadline); a plugin without the capability, or whose link is
// down, is not asked.
func (r *Remote) Shutdown(ctx context.Context) error {
	if r.Err() != nil {
		return nil
	}
	return r.shutdown(ctx)
}

// shutdown is Shutdown whether or not the forward stream is open.
func (r *Remote) shutdown(ctx context.Context) error {
	if !r.has(pluginlink.CapabilityShutdown) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ShutdownTimeout)
	defer cancel()
	req := &pluginv1.ShutdownRequest{}
	if dl, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = dl.UnixNano()
	}
	if _, err := r.client.Shutdown(ctx, req); err != nil {
		return fmt.Errorf("shutdown: %w", rpcError(err))
	}
	return nil
}

// Stop stops the plugin gracefully: it closes the forward stream (forwards
// still waiting fail with ErrPluginGone, to be redelivered), asks the
// plugin to shut down (Shutdown, bounded by ShutdownTimeout) and then
// kills it (Kill). It returns the Shutdown call's error, for the log; the
// process is gone either way. A plugin whose link had already broken is
// only reaped, as by Kill.
func (p *Process) Stop() error {
	var err error
	if p.Remote.Err() == nil {
		p.stopping.Store(true)
		p.Remote.Close()
		err = p.Remote.shutdown(context.Background())
	}
	p.Kill()
	return err
}

// name is the plugin's name for errors.
func (r *Remote) name() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.info.Name == "" {
		return "(unnamed)"
	}
	return r.info.Name
}

// rpcError reduces a gRPC status error to its message and code: the
// plugin's own words, without the transport's decoration.
func rpcError(err error) error {
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("%s (%s)", st.Message(), st.Code())
	}
	return err
}

// schemaFromWire converts a configuration schema; nil stays nil.
func schemaFromWire(w *pluginv1.ConfigSchema) *pluginapi.ConfigSchema {
	if w == nil {
		return nil
	}
	s := &pluginapi.ConfigSchema{}
	for _, sp := range w.GetSettings() {
		s.Settings = append(s.Settings, pluginapi.SettingSpec{Name: sp.GetName(), Type: pluginapi.SettingType(sp.GetType()),
			Required: sp.GetRequired(), Description: sp.GetDescription()})
	}
	for _, sp := range w.GetSecrets() {
		s.Secrets = append(s.Secrets, pluginapi.SecretSpec{Name: sp.GetName(), Required: sp.GetRequired(), Description: sp.GetDescription()})
	}
	return s
}
