package pluginapi

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

type loggerKey struct{}

func withLogger(ctx context.Context, l hclog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LoggerFrom returns the plugin's logger from the context HandleForward
// receives. Lines go to the host's log as JSON on stderr, named after the
// plugin. Never log a credential or a message body at Info or above.
func LoggerFrom(ctx context.Context) hclog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(hclog.Logger); ok {
		return l
	}
	return hclog.NewNullLogger()
}

// Serve runs impl as a relay-host plugin and never returns. It sets up the
// go-plugin handshake (gRPC only, protocol ProtocolVersion), raises the gRPC
// message limits to MaxMessageBytes, recovers panics in HandleForward into
// Rejected results, logs JSON to stderr for the host to relay, sets runtime
// defaults suited to a plugin (collector and scheduler, see runtime.go;
// GOGC, GOMEMLIMIT and GOMAXPROCS in the plugin's environment win), and
// exits when the host that started it is gone.
//
// Run by hand, the binary explains that relay-host starts it; with the single
// argument "info" it prints its Info as JSON and exits, which is handy when
// debugging a build.
func Serve(impl Plugin, opts ...ServeOption) {
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	info := impl.Info()
	if len(os.Args) == 2 && (os.Args[1] == "info" || os.Args[1] == "--info") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(info)
		os.Exit(0)
	}
	hs := HandshakeConfig()
	if os.Getenv(hs.MagicCookieKey) != hs.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a relay-host plugin (protocol %d): relay-host starts it, it is not run by hand.\n"+
			"Put it in relay-host's plugins directory, then try:\n"+
			"  relay-host plugins list\n  relay-host convert --platform %s FILE\n",
			os.Args[0], ProtocolVersion, firstOr(info.Platforms, "PLATFORM"))
		os.Exit(1)
	}
	name := info.Name
	if name == "" {
		name = "plugin"
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.LevelFromString(os.Getenv(EnvLogLevel)),
	})
	go watchParent(os.Getppid(), logger)
	if !cfg.keepRuntime {
		applyRuntimeDefaults()
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: pluginSets(impl, logger),
		Logger:           logger,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
			return grpc.NewServer(opts...)
		},
	})
	os.Exit(0)
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
}

// KeepRuntimeSettings makes Serve leave the Go runtime as the plugin set it
// up (GOMAXPROCS, the GC percentage and the soft memory limit), instead of
// applying its defaults for small, fast conversions (see runtime.go). Use it
// for a plugin that holds a large heap (a cache, a model) or does heavy work
// per forward, and set the runtime yourself before calling Serve.
func KeepRuntimeSettings() ServeOption {
	return func(c *serveConfig) { c.keepRuntime = true }
}
