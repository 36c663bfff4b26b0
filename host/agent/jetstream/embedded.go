package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults of the embedded server, the values of --data-dir and
// --nats-listen when they are not given.
const (
	// DefaultDataDir is where the embedded server keeps its JetStream store
	// (under jetstream/) and its generated token.
	DefaultDataDir = "./relay-data"
	// DefaultListen is the NATS client port on loopback, so workers on this
	// machine connect with the usual nats://127.0.0.1:4222.
	DefaultListen = "127.0.0.1:4222"
	// TokenFileName is the generated token's file in the data dir.
	TokenFileName = "nats.token"
	// LockFileName is the lock a running embedded server holds in the data
	// dir: two servers writing one JetStream store would corrupt it, and
	// nats-server does not prevent it itself.
	LockFileName = "nats.lock"
	// EmbeddedServerName names the embedded server. It must be stable across
	// restarts: JetStream records it with the streams in its store.
	EmbeddedServerName = "relay-host-embedded"
)

// embeddedReadyTimeout bounds how long StartEmbedded waits for the server to
// accept clients. Recovering a JetStream store of 1 GiB (the default
// --nats-max-bytes) reads its index and last blocks, a few seconds on a slow
// disk; a port already in use is noticed at once, not after this.
const embeddedReadyTimeout = 30 * time.Second

// readyPoll is how often StartEmbedded checks for a fatal start error while
// it waits for the server to be ready.
const readyPoll = 50 * time.Millisecond

// tokenBytes is the generated token's entropy: 256 bits, as hex.
const tokenBytes = 32

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// DataDir holds the JetStream store and the generated token; created
	// mode 0700 when absent. Default DefaultDataDir.
	DataDir string
	// Listen is the client address, host:port; port 0 picks a free port.
	// Default DefaultListen. It must be a loopback address unless
	// AllowNonLoopback is set.
	Listen string
	// AllowNonLoopback lets Listen be any address. Off by default: events
	// carry users' messages, and a NATS port reachable from the network
	// exposes them to anyone who learns the token, with no TLS on the wire.
	// A multi-machine setup should run a real cluster with TLS and
	// credentials (--nats-url) instead.
	AllowNonLoopback bool
	// TokenFile names a file holding the token clients must present. Empty:
	// a token is generated into <DataDir>/nats.token (mode 0600) on the
	// first start and reused on every later one.
	TokenFile string
	// SyncAlways fsyncs every write to the store (--nats-sync always): the
	// stream then survives a power loss, at the cost of a disk flush per
	// event. Off, the store survives any process crash (writes reach the
	// OS at once) and the OS flushes on its own schedule.
	SyncAlways bool
	// Logger receives the server's log lines (see serverLog for levels).
	// Default: a null logger.
	Logger hclog.Logger
}

// ListenError is a listen address StartEmbedded refuses.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string { return fmt.Sprintf("nats listen address %q: %v", e.Addr, e.Err) }
func (e *ListenError) Unwrap() error { return e.Err }

// ErrNotLoopback is the cause of a ListenError for an address that is not
// loopback while non-loopback addresses are not allowed.
var ErrNotLoopback = errors.New("not a loopback address (events carry users' messages)")

// TokenFileError is a token file that cannot be read or written, or is
// empty.
type TokenFileError struct {
	Path string
	Err  error
}

func (e *TokenFileError) Error() string { return fmt.Sprintf("nats token file %s: %v", e.Path, e.Err) }
func (e *TokenFileError) Unwrap() error { return e.Err }

// DataDirInUseError is a data dir whose store another running embedded
// server (another relay-host) holds.
type DataDirInUseError struct {
	Dir string
}

func (e *DataDirInUseError) Error() string {
	return fmt.Sprintf("nats data dir %s is in use by another running relay-host (%s is locked)", e.Dir, LockFileName)
}

var errDirLocked = errors.New("locked")

// StartError is an embedded server that stopped while starting, with the
// server's own reason (e.g. its listen address already in use).
type StartError struct {
	Listen, DataDir string
	Reason          string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("start nats server on %s (store %s): %s", e.Listen, e.DataDir, e.Reason)
}

// AddrInUse reports whether the server could not listen because another
// process holds the address.
func (e *StartError) AddrInUse() bool { return strings.Contains(e.Reason, "address already in use") }

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv       *server.Server
	token     string
	tokenFile string
	dataDir   string

	unlock     func()
	unlockOnce sync.Once
}

// StartEmbedded starts a nats-server in this process: JetStream with file
// storage under cfg.DataDir, clients on cfg.Listen with token auth. It
// returns once the server accepts clients and JetStream is up.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	host, port, err := parseListen(cfg.Listen, cfg.AllowNonLoopback)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create nats data dir: %w", err)
	}
	unlock, err := lockDir(filepath.Join(cfg.DataDir, LockFileName))
	if errors.Is(err, errDirLocked) {
		return nil, &DataDirInUseError{Dir: cfg.DataDir}
	}
	if err != nil {
		return nil, fmt.Errorf("lock nats data dir: %w", err)
	}
	e, err := startEmbedded(cfg, host, port)
	if err != nil {
		unlock()
		return nil, err
	}
	e.unlock = unlock
	return e, nil
}

func startEmbedded(cfg EmbeddedConfig, host string, port int) (*Embedded, error) {
	var err error
	tokenFile := cfg.TokenFile
	var token string
	if tokenFile == "" {
		tokenFile = filepath.Join(cfg.DataDir, TokenFileName)
		token, err = loadOrCreateToken(tokenFile, cfg.Logger)
	} else {
		token, err = ReadTokenFile(tokenFile, cfg.Logger)
	}
	if err != nil {
		return nil, err
	}

	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as "the default port"
	}
	opts := &server.Options{
		ServerName:    EmbeddedServerName,
		Host:          host,
		Port:          port,
		Authorization: token,
		JetStream:     true,
		StoreDir:      cfg.DataDir,
		SyncAlways:    cfg.SyncAlways,
		NoSigs:        true, // the host owns signal handling
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	logs := &serverLog{log: cfg.Logger.Named("nats-server")}
	srv.SetLogger(logs, cfg.Logger.IsTrace(), false)
	srv.Start()

	deadline := time.Now().Add(embeddedReadyTimeout)
	for !srv.ReadyForConnections(readyPoll) {
		if msg := logs.lastFatal(); msg != "" {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, &StartError{Listen: cfg.Listen, DataDir: cfg.DataDir, Reason: msg}
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("start nats server on %s: not ready after %s", cfg.Listen, embeddedReadyTimeout)
		}
	}
	if !srv.JetStreamEnabled() {
		msg := logs.lastError()
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start nats server: jetstream did not start (store %s): %s", cfg.DataDir, msg)
	}
	return &Embedded{srv: srv, token: token, tokenFile: tokenFile, dataDir: cfg.DataDir}, nil
}

// ClientURL is the URL in-process and local clients dial, with the actual
// port when Listen asked for port 0. It carries no credentials.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// InProcess is the server's in-memory connection for clients in this
// process (ConnectConfig.InProcess): the host's own publisher and
// responder need no TCP.
func (e *Embedded) InProcess() nats.InProcessConnProvider { return e.srv }

// Token is the token clients must present. It is for in-process clients
// only: never log it; point workers at TokenFile instead.
func (e *Embedded) Token() string { return e.token }

// TokenFile is the path of the file holding the token, to show to the
// operator (`--nats-token-file` for workers).
func (e *Embedded) TokenFile() string { return e.tokenFile }

// DataDir is the data dir the store lives in.
func (e *Embedded) DataDir() string { return e.dataDir }

// Shutdown stops the server: clients are disconnected and the store is
// flushed and closed. It returns when the server has stopped, or with
// ctx's error when ctx ends first (the server then finishes stopping in the
// background).
func (e *Embedded) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.unlockOnce.Do(e.unlock)
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop nats server: %w", ctx.Err())
	}
}

// parseListen splits a listen address and refuses a non-loopback host
// unless allowed. An empty host (all interfaces) is not loopback.
func parseListen(addr string, allowAny bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, &ListenError{Addr: addr, Err: errors.New("want host:port")}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, &ListenError{Addr: addr, Err: errors.New("port must be 0-65535")}
	}
	if !allowAny && !isLoopback(host) {
		return "", 0, &ListenError{Addr: addr, Err: ErrNotLoopback}
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadTokenFile reads a token file: the token is its content with
// surrounding white space trimmed; an empty one is an error. A file other
// users can read is accepted with a warning (secret mounts are often 0644).
func ReadTokenFile(path string, log hclog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &TokenFileError{Path: path, Err: err}
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", &TokenFileError{Path: path, Err: errors.New("empty")}
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("nats token file is readable by other users; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
	}
	return token, nil
}

// loadOrCreateToken reads path, or creates it with a fresh random token,
// mode 0600, when it does not exist.
func loadOrCreateToken(path string, log hclog.Logger) (string, error) {
	token, err := ReadTokenFile(path, log)
	if err == nil {
		return token, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate nats token: %w", err)
	}
	token = hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ReadTokenFile(path, log) // another process created it first
	}
	if err != nil {
		return "", &TokenFileError{Path: path, Err: err}
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", &TokenFileError{Path: path, Err: err}
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", &TokenFileError{Path: path, Err: err}
	}
	return token, nil
}
