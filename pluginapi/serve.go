package pluginapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"google.golang.org/grpc"
)

type loggerKey struct{}

func withLogger(ctx context.Context, l hclog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// forwardKey holds the forward a context's calls are about (withForward).
type forwardKey struct{}

// forwardRef is what LoggerFrom adds to the plugin's logger for a forward.
type forwardRef struct{ id, bufferID, platform string }

// withForward marks ctx as the context of forward f, for LoggerFrom.
func withForward(ctx context.Context, f Forward) context.Context {
	return context.WithValue(ctx, forwardKey{}, &forwardRef{id: f.ID, bufferID: f.BufferID, platform: f.Platform})
}

// LoggerFrom returns the plugin's logger from the context HandleForward
// (or any other method the host calls) receives. Lines go to the host's
// log as JSON on stderr, named after the plugin; in HandleForward they
// carry the forward's forward_id (the id the host logs it under),
// buffer_id and platform. Never log a credential or a message body at Info
// or above.
func LoggerFrom(ctx context.Context) hclog.Logger {
	l, ok := ctx.Value(loggerKey{}).(hclog.Logger)
	if !ok {
		return hclog.NewNullLogger()
	}
	if f, ok := ctx.Value(forwardKey{}).(*forwardRef); ok {
		args := []any{"forward_id", f.id, "platform", f.platform}
		if f.bufferID != "" {
			args = append(args, "buffer_id", f.bufferID)
		}
		return l.With(args...)
	}
	return l
}

// Serve runs impl as a relay-host plugin and never returns. It sets up the
// go-plugin handshake (gRPC only, protocol ProtocolVersion), raises the gRPC
// message limits to MaxMessageBytes, recovers panics in HandleForward into
// Rejected results, logs JSON to stderr for the host to relay, sets runtime
// defaults suited to a plugin (collector and scheduler, see runtime.go;
// GOGC, GOMEMLIMIT and GOMAXPROCS in the plugin's environment win), and
// exits when the host that started it is gone. Like SIGINT, SIGTERM does not
// stop it: it arrives when the host's whole process group is stopped (a
// terminal, a service manager), and the host then stops its plugins itself.
//
// Run by hand, the binary explains that relay-host starts it; with the single
// argument "info" it prints its Info as JSON and exits, which is handy when
// debugging a build.
func Serve(impl Plugin, opts ...ServeOption) {
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	err := serve(impl, cfg, os.Args, os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, errRunByHand):
		os.Exit(1) // serve explained it on stderr
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
		os.Exit(1)
	}
	os.Exit(0)
}

// errRunByHand is serve's error when the process was not started by a host
// (no magic cookie); the explanation is already on stderr.
var errRunByHand = errors.New("not started by relay-host")

// serve is Serve without the process exit, for tests: args is the command
// line (program name first), getenv reads the environment. It returns once the plugin has been served (the host stopped
// it, or cfg.test's context ended), or at once for "info" and when run by
// hand. With cfg.test set it serves in-process (go-plugin's test mode) and
// leaves the process alone: no parent watch, no signal handling, no runtime
// defaults.
func serve(impl Plugin, cfg serveConfig, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	info := impl.Info()
	if len(args) == 2 && (args[1] == "info" || args[1] == "--info") {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		printed := info
		printed.SDKVersion = SDKVersion
		if err := enc.Encode(printed); err != nil {
			return fmt.Errorf("print info: %w", err)
		}
		return nil
	}
	program := "this program"
	if len(args) > 0 {
		program = args[0]
	}
	if getenv(pluginlink.MagicCookieKey) != pluginlink.MagicCookieValue {
		fmt.Fprintf(stderr, "%s is a relay-host plugin (protocol %d): relay-host starts it, it is not run by hand.\n"+
			"Put it in relay-host's plugins directory, then try:\n"+
			"  relay-host plugins list\n  relay-host convert --platform %s FILE\n",
			program, ProtocolVersion, firstOr(info.Platforms, "PLATFORM"))
		return errRunByHand
	}
	name := info.Name
	if name == "" {
		name = "plugin"
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Output:     stderr,
		JSONFormat: true,
		Level:      hclog.LevelFromString(getenv(EnvLogLevel)),
	})
	if cfg.test == nil {
		go watchParent(os.Getppid(), logger)
		ignoreTermination(logger)
		if !cfg.keepRuntime {
			applyRuntimeDefaults(getenv)
		}
	}
	gs := newGRPCServer(impl, logger)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginlink.HandshakeConfig(ProtocolVersion),
		VersionedPlugins: pluginSets(gs),
		Logger:           logger,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
				grpc.InitialWindowSize(pluginlink.WindowBytes), grpc.InitialConnWindowSize(pluginlink.WindowBytes))
			return grpc.NewServer(opts...)
		},
		Test: cfg.test,
	})
	return nil
}

// watchParent exits the process when its parent changes, i.e. the host that
// started it died without stopping it (SIGKILL, crash). This keeps plugins
// from outliving their host.
func watchParent(parent int, logger hclog.Logger) {
	t := time.NewTicker(parentPollInterval)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != parent {
			logger.Warn("the host that started this plugin is gone; exiting", "parent_pid", parent)
			os.Exit(0)
		}
	}
}

// ignoreTermination keeps SIGTERM from stopping the plugin, as go-plugin
// does for SIGINT. A plugin shares its host's process group, so stopping
// the group (Ctrl-C in some terminals, a service manager) signals the
// plugin too; dying of it would look like a crash to the host while it
// shuts down. The host stops the plugin itself, and watchParent covers a
// host that is gone.
func ignoreTermination(logger hclog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	go func() {
		for range ch {
			logger.Debug("SIGTERM ignored: the host stops this plugin")
		}
	}()
}

func firstOr(list []string, def string) string {
	if len(list) > 0 && list[0] != "" {
		return list[0]
	}
	return def
}

// ServeOption changes how Serve runs a plugin.
type ServeOption func(*serveConfig)

type serveConfig struct {
	keepRuntime bool
	// test serves in-process (go-plugin's test mode); tests only.
	test *plugin.ServeTestConfig
}

// KeepRuntimeSettings makes Serve leave the Go runtime as the plugin set it
// up (GOMAXPROCS, the GC percentage and the soft memory limit), instead of
// applying its defaults for small, fast conversions (see runtime.go). Use it
// for a plugin that holds a large heap (a cache, a model) or does heavy work
// per forward, and set the runtime yourself before calling Serve.
func KeepRuntimeSettings() ServeOption {
	return func(c *serveConfig) { c.keepRuntime = true }
}
