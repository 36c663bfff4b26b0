package launcher

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

// LaunchConfig says how to start one plugin process.
type LaunchConfig struct {
	// Path is the plugin executable.
	Path string
	// Env is the plugin's complete environment (an explicit allowlist:
	// the host's own environment is never inherited; see PluginEnv).
	// go-plugin adds its handshake variables.
	Env []string
	// Logger receives the plugin's log lines (relayed from its stderr).
	Logger hclog.Logger
	// Checksum, when set, is the SHA-256 the executable must have; a
	// mismatch refuses to start it (ChecksumError).
	Checksum []byte
	// StartTimeout bounds the handshake; zero means
	// pluginapi.DefaultStartTimeout.
	StartTimeout time.Duration
	// Stdout receives anything the plugin prints on stdout after the
	// handshake; nil discards it.
	Stdout io.Writer
	// Configure, when set, is asked for the plugin's configuration once its
	// Info is known, before the forward stream opens; Launch hands it to the
	// plugin (Configure RPC) and fails when the callback fails, the plugin
	// refuses it (*ConfigureError) or takes no configuration. A nil
	// configuration sends none.
	Configure func(pluginapi.Info) (*pluginapi.Config, error)
}

// Process is one running plugin.
type Process struct {
	// Remote is the link to the plugin.
	Remote *Remote
	// Info is what the plugin said about itself at start.
	Info pluginapi.Info
	// PID is the plugin's process id.
	PID    int
	client *plugin.Client
	// stopping is set once Kill was called: the plugin's exit is then the
	// host's doing, not a crash (exitLogger).
	stopping atomic.Bool
}

// Kill stops the plugin: it closes the forward stream, asks go-plugin to shut
// the process down gracefully and kills it if it does not exit in time. It
// returns once the process is gone. When the plugin was serving until then,
// this is an orderly stop and its exit is logged at info level whatever its
// status; for a plugin whose link had already broken (it crashed), Kill only
// reaps it and the exit stays an error.
func (p *Process) Kill() {
	if p.Remote.Err() == nil {
		p.stopping.Store(true)
	}
	p.Remote.Close()
	p.client.Kill()
}

// Exited reports whether the plugin process has exited.
func (p *Process) Exited() bool { return p.client.Exited() }

// Launch starts a plugin, completes the handshake, asks for its Info and
// opens its forward stream (batched when the plugin advertises the
// forward-batches capability). A plugin that cannot start fails with a
// ChecksumError, ProtocolError or HandshakeError when one applies.
func Launch(ctx context.Context, cfg LaunchConfig) (*Process, error) {
	name := filepath.Base(cfg.Path)
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = pluginapi.DefaultStartTimeout
	}
	cmd := exec.Command(cfg.Path)
	cmd.Env = append([]string{}, cfg.Env...)
	prepareCommand(cmd)
	var secure *plugin.SecureConfig
	if cfg.Checksum != nil {
		secure = &plugin.SecureConfig{Checksum: cfg.Checksum, Hash: sha256.New()}
	}
	stdout := cfg.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	p := &Process{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: pluginlink.HandshakeConfig(pluginapi.ProtocolVersion),
		VersionedPlugins: pluginlink.PluginSets(pluginapi.ProtocolVersion, &pluginlink.GRPCPlugin{
			Connect: func(c *grpc.ClientConn) any { return newRemote(pluginv1.NewPluginClient(c)) },
		}),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           exitLogger{Logger: cfg.Logger, stopping: &p.stopping},
		StartTimeout:     timeout,
		SyncStdout:       stdout,
		SkipHostEnv:      true, // the environment is exactly cfg.Env
		GRPCDialOptions:  grpcDialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, launchError(cfg, err)
	}
	raw, err := rpc.Dispense(pluginlink.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: dispense: %w", name, err)
	}
	remote, ok := raw.(*Remote)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: unexpected client type %T", name, raw)
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := remote.Info(ictx)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	if err := configureAtStart(ctx, cfg, remote, info); err != nil {
		client.Kill()
		return nil, err
	}
	if err := remote.open(info.HasCapability(pluginlink.CapabilityForwardBatches)); err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	p.Remote, p.Info, p.PID, p.client = remote, info, pid, client
	return p, nil
}

// versionMismatch matches go-plugin's error for a plugin that speaks
// another protocol version.
var versionMismatch = regexp.MustCompile(`incompatible API version with plugin. Plugin version: (\d+)`)

// launchError turns go-plugin's start errors into typed ones.
func launchError(cfg LaunchConfig, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		ce := &ChecksumError{Path: cfg.Path, Want: cfg.Checksum}
		if data, rerr := os.ReadFile(cfg.Path); rerr == nil {
			sum := sha256.Sum256(data)
			ce.Got = sum[:]
		}
		return ce
	case versionMismatch.MatchString(msg):
		v, _ := strconv.Atoi(versionMismatch.FindStringSubmatch(msg)[1])
		return &ProtocolError{Path: cfg.Path, Plugin: v, Host: pluginapi.ProtocolVersion}
	case strings.Contains(msg, "exited before we could connect") || strings.Contains(msg, "Unrecognized remote plugin message"):
		return &HandshakeError{Path: cfg.Path, Err: err}
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return &HandshakeError{Path: cfg.Path, Timeout: true, Err: err}
	}
	return fmt.Errorf("plugin %s: start: %w", filepath.Base(cfg.Path), err)
}

// goPluginExitMessage is the message go-plugin logs when a plugin process
// exits: at error level when the exit status is not zero.
const goPluginExitMessage = "plugin process exited"

// exitLogger is the logger Launch gives go-plugin. go-plugin logs a
// non-zero exit at error level, also when the host stopped the plugin
// itself (a plugin killed after its grace period, or one that chose an exit
// status while stopping). An orderly stop is not an error: once
// Process.Kill was called, that line goes out at info level.
type exitLogger struct {
	hclog.Logger
	stopping *atomic.Bool
}

// Error implements hclog.Logger.
func (l exitLogger) Error(msg string, args ...any) {
	if msg == goPluginExitMessage && l.stopping.Load() {
		l.Logger.Info(msg, args...)
		return
	}
	l.Logger.Error(msg, args...)
}
