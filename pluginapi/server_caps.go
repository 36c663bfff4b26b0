package pluginapi

// This file is the plugin's side of the RPCs added with SDK 1.0:
// Configure, HandleAction, CheckHealth and Shutdown, each answered only for
// the capability the plugin advertised (capabilities).

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/relayhost/relay-host/internal/pluginlink"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// capabilities lists what Serve provides for impl: batches, health and
// shutdown for every plugin, configure and egress for those that implement
// Configurer and Egress.
func capabilities(impl Plugin) []string {
	caps := []string{pluginlink.CapabilityForwardBatches, pluginlink.CapabilityHealth, pluginlink.CapabilityShutdown}
	if _, ok := impl.(Configurer); ok {
		caps = append(caps, pluginlink.CapabilityConfigure)
	}
	if _, ok := impl.(Egress); ok {
		caps = append(caps, pluginlink.CapabilityEgress)
	}
	return caps
}

// withDeadline applies a request's deadline (Unix nanoseconds, 0 for none)
// to ctx.
func withDeadline(ctx context.Context, unixNano int64) (context.Context, context.CancelFunc) {
	if unixNano <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, time.Unix(0, unixNano))
}

// Configure implements the Configure RPC.
func (s *grpcServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	c, ok := s.impl.(Configurer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this plugin takes no configuration")
	}
	cfg := Config{Settings: req.GetSettingsJson(), Secrets: req.GetSecrets(), Generation: req.GetGeneration()}
	if cfg.Secrets == nil {
		cfg.Secrets = map[string][]byte{}
	}
	err := s.guard("Configure", func() error { return c.Configure(withLogger(ctx, s.logger), cfg) })
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &pluginv1.ConfigureResponse{}, nil
}

// HandleAction implements the HandleAction RPC. Every failure of the
// plugin's (a panic, a result that cannot be encoded) is answered as a
// failed result, never as an RPC error: the agent gets an answer in the
// shape it expects.
func (s *grpcServer) HandleAction(ctx context.Context, req *pluginv1.ActionRequest) (*pluginv1.ActionResponse, error) {
	e, ok := s.impl.(Egress)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this plugin does no egress")
	}
	ctx, cancel := withDeadline(withLogger(ctx, s.logger), req.GetDeadlineUnixNano())
	defer cancel()
	a := Action{Platform: req.GetPlatform(), BotID: req.GetBotId(), Fields: req.GetAction().AsMap()}
	a.Op = a.String("op")
	var res ActionResult
	if err := s.guard("HandleAction", func() error { res = e.HandleAction(ctx, a); return nil }); err != nil {
		res = ActionFailed(CodePluginFailed, "%v", err)
	}
	w, err := actionResultToWire(res)
	if err != nil {
		s.logger.Error("plugin returned an action result that cannot be encoded; answering a failure", "op", a.Op, "error", err)
		w, _ = actionResultToWire(ActionFailed(CodePluginFailed, "plugin returned a result that cannot be encoded: %v", err))
	}
	return w, nil
}

// CheckHealth implements the CheckHealth RPC: healthy unless the plugin
// implements HealthChecker and it says otherwise.
func (s *grpcServer) CheckHealth(ctx context.Context, _ *pluginv1.HealthRequest) (*pluginv1.HealthResponse, error) {
	h, ok := s.impl.(HealthChecker)
	if !ok {
		return &pluginv1.HealthResponse{Ok: true}, nil
	}
	if err := s.guard("CheckHealth", func() error { return h.CheckHealth(withLogger(ctx, s.logger)) }); err != nil {
		return &pluginv1.HealthResponse{Ok: false, Message: err.Error()}, nil
	}
	return &pluginv1.HealthResponse{Ok: true}, nil
}

// Shutdown implements the Shutdown RPC: the plugin's Shutdown when it
// implements Shutdowner, within the host's deadline.
func (s *grpcServer) Shutdown(ctx context.Context, req *pluginv1.ShutdownRequest) (*pluginv1.ShutdownResponse, error) {
	sd, ok := s.impl.(Shutdowner)
	if !ok {
		return &pluginv1.ShutdownResponse{}, nil
	}
	ctx, cancel := withDeadline(withLogger(ctx, s.logger), req.GetDeadlineUnixNano())
	defer cancel()
	if err := s.guard("Shutdown", func() error { return sd.Shutdown(ctx) }); err != nil {
		s.logger.Warn("plugin shutdown failed", "error", err)
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pluginv1.ShutdownResponse{}, nil
}

// guard runs one call into the plugin, turning a panic into an error.
func (s *grpcServer) guard(method string, call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("plugin panicked in "+method+"; the plugin keeps serving", "stack", string(debug.Stack()))
			s.logger.Debug("panic value", "value", fmt.Sprint(p))
			err = fmt.Errorf("plugin panicked in %s (see the plugin's log)", method)
		}
	}()
	return call()
}
