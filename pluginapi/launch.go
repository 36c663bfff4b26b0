package pluginapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// LaunchConfig says how to start one plugin process. The host's supervisor
// and plugintest both launch plugins through Launch, so tests exercise
// exactly what production runs.
type LaunchConfig struct {
	// Path is the plugin executable.
	Path string
	// Env is the plugin's complete environment (an explicit allowlist: the
	// host's own environment is never inherited). go-plugin adds its
	// handshake variables.
	Env []string
	// Logger receives the plugin's log lines (relayed from its stderr).
	Logger hclog.Logger
	// Checksum, when set, is the SHA-256 the executable must have; a
	// mismatch refuses to start it.
	Checksum []byte
	// StartTimeout bounds the handshake; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// Stdout receives anything the plugin prints on stdout after the
	// handshake; nil discards it.
	Stdout io.Writer
}

// Process is one running plugin.
type Process struct {
	// Remote is the link to the plugin.
	Remote *Remote
	// Info is what the plugin said about itself at start.
	Info Info
	// PID is the plugin's process id.
	PID    int
	client *plugin.Client
}

// Kill stops the plugin: it closes the forward stream, asks go-plugin to shut
// the process down gracefully and kills it if it does not exit in time.
func (p *Process) Kill() {
	p.Remote.Close()
	p.client.Kill()
}

// Exited reports whether the plugin process has exited.
func (p *Process) Exited() bool { return p.client.Exited() }

var versionMismatch = regexp.MustCompile(`incompatible API version with plugin. Plugin version: (\d+)`)

// Launch starts a plugin, completes the handshake, asks for its Info and
// opens its forward stream (batched when the plugin advertises
// CapabilityForwardBatches). Errors say what is wrong and what to do.
func Launch(ctx context.Context, cfg LaunchConfig) (*Process, error) {
	name := filepath.Base(cfg.Path)
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	cmd := exec.Command(cfg.Path)
	cmd.Env = append([]string{}, cfg.Env...)
	// If the host dies abruptly, the kernel kills the plugin too (Linux);
	// Serve's parent watch covers the rest.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var secure *plugin.SecureConfig
	if cfg.Checksum != nil {
		secure = &plugin.SecureConfig{Checksum: cfg.Checksum, Hash: sha256.New()}
	}
	stdout := cfg.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  HandshakeConfig(),
		VersionedPlugins: pluginSets(nil, nil),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           cfg.Logger,
		StartTimeout:     timeout,
		SyncStdout:       stdout,
		SkipHostEnv:      true, // the environment is exactly cfg.Env
		GRPCDialOptions:  grpcDialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, launchError(name, err)
	}
	raw, err := rpc.Dispense(pluginName)
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
	if err := remote.open(info.HasCapability(CapabilityForwardBatches)); err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	return &Process{Remote: remote, Info: info, PID: pid, client: client}, nil
}

// launchError turns go-plugin's start errors into ones that say what to do.
func launchError(name string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %s: its sha256 does not match the pinned one: run `relay-host plugins pin` if you trust this build: %w", name, err)
	case versionMismatch.MatchString(msg):
		v := versionMismatch.FindStringSubmatch(msg)[1]
		return fmt.Errorf("plugin %s speaks protocol %s, this host speaks %d: rebuild the plugin against pluginapi v%d or upgrade relay-host", name, v, ProtocolVersion, ProtocolVersion)
	case strings.Contains(msg, "exited before we could connect") || strings.Contains(msg, "Unrecognized remote plugin message"):
		return fmt.Errorf("plugin %s exited or misbehaved during the handshake (is it built with pluginapi.Serve? run it with %s=debug to see why): %w", name, EnvLogLevel, err)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s did not complete the handshake in time: %w", name, err)
	}
	return fmt.Errorf("start plugin %s: %w", name, err)
}
