package launcher

import (
	"context"
	"fmt"
	"io"
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
	// mismatch refuses to start it (ChecksumError). The file hashed is the
	// file that runs (on Linux the open file itself is executed).
	Checksum []byte
	// CheckPermissions refuses an executable that is writable by group or
	// others or owned by another user than this one and root
	// (*PermissionError), checked on the open file.
	CheckPermissions bool
	// User, when set, is the account the plugin runs as (Linux, host
	// running as root).
	User *User
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
// reaps it and the exit stays an error. Whatever the plugin started in its
// process group is killed with it (Linux).
func (p *Process) Kill() {
	if p.Remote.Err() == nil {
		p.stopping.Store(true)
	}
	p.Remote.Close()
	p.client.Kill()
	_ = killGroup(p.PID) // what the plugin started and left behind
}

// Exited reports whether the plugin process has exited.
func (p *Process) Exited() bool { return p.client.Exited() }

// Launch starts a plugin, completes the handshake, asks for its Info and
// opens its forward stream (batched when the plugin advertises the
// forward-batches capability). A plugin that cannot start fails with a
// ChecksumError, PermissionError, ProtocolError or HandshakeError when one
// applies.
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
	if err := setUser(cmd, cfg.User); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	exe, err := openExecutable(cmd, cfg)
	if err != nil {
		return nil, err
	}
	defer exe.close() // once started, the process has its own image
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
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           exitLogger{Logger: cfg.Logger, stopping: &p.stopping, path: cmd.Path, realPath: cfg.Path},
		StartTimeout:     timeout,
		SyncStdout:       stdout,
		SkipHostEnv:      true, // the environment is exactly cfg.Env
		GRPCDialOptions:  grpcDialOptions(),
	})
	stop := func() {
		client.Kill()
		if cmd.Process != nil {
			_ = killGroup(cmd.Process.Pid)
		}
	}
	rpc, err := client.Client()
	if err != nil {
		stop()
		return nil, launchError(cfg, err)
	}
	if exe.verify != nil {
		if err := exe.verify(); err != nil {
			stop()
			return nil, err
		}
	}
	raw, err := rpc.Dispense(pluginlink.PluginName)
	if err != nil {
		stop()
		return nil, fmt.Errorf("plugin %s: dispense: %w", name, err)
	}
	remote, ok := raw.(*Remote)
	if !ok {
		stop()
		return nil, fmt.Errorf("plugin %s: unexpected client type %T", name, raw)
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := remote.Info(ictx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	if err := configureAtStart(ctx, cfg, remote, info); err != nil {
		client.Kill()
		return nil, err
	}
	if err := remote.open(info.HasCapability(pluginlink.CapabilityForwardBatches)); err != nil {
		stop()
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
//
// It also names the plugin by its file: go-plugin names the relay of the
// plugin's stderr after the executable's path, which on Linux is the open
// file the plugin was started from (/proc/self/fd/N, execOpened), and
// reports that path in its own lines.
type exitLogger struct {
	hclog.Logger
	stopping *atomic.Bool
	// path is the path go-plugin ran; realPath the plugin's file.
	path, realPath string
}

// Named implements hclog.Logger: the stderr relay is named after the
// plugin's file, not the descriptor it was started from.
func (l exitLogger) Named(name string) hclog.Logger {
	if name == filepath.Base(l.path) {
		name = filepath.Base(l.realPath)
	}
	return l.Logger.Named(name)
}

// realArgs replaces the path go-plugin ran with the plugin's file in a
// line's arguments.
func (l exitLogger) realArgs(args []any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok && s == l.path && l.path != l.realPath {
			args[i] = l.realPath
		}
	}
	return args
}

// Debug implements hclog.Logger.
func (l exitLogger) Debug(msg string, args ...any) { l.Logger.Debug(msg, l.realArgs(args)...) }

// Info implements hclog.Logger.
func (l exitLogger) Info(msg string, args ...any) { l.Logger.Info(msg, l.realArgs(args)...) }

// Error implements hclog.Logger.
func (l exitLogger) Error(msg string, args ...any) {
	args = l.realArgs(args)
	if msg == goPluginExitMessage && l.stopping.Load() {
		l.Logger.Info(msg, args...)
		return
	}
	l.Logger.Error(msg, args...)
}
