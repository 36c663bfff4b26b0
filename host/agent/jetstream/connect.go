package jetstream

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
)

// Connection settings. After the first connection, the client never gives
// up: relay-host without NATS cannot hand events off, so it keeps trying and
// leaves forwards un-acked (the connector keeps them) until NATS is back.
const (
	// DialTimeout bounds one connection attempt to one server, so an
	// unreachable --nats-url fails the start within seconds (per server in
	// the list).
	DialTimeout = 3 * time.Second
	// ReconnectWait is the pause between rounds of reconnection attempts
	// over the server list (the client adds up to ReconnectJitter to it so
	// many hosts do not reconnect in step after a cluster restart).
	ReconnectWait   = time.Second
	ReconnectJitter = 500 * time.Millisecond
	// ReconnectBufSize is how much the client buffers while reconnecting:
	// publishes made during a short blip (a cluster node restarting) go out
	// on reconnection instead of failing. 8 MiB is nats.go's default, about
	// 8,000 events of 1 KiB; a publish still waits for its PubAck, bounded
	// by PublishTimeout, so nothing is acked to the connector on a buffered
	// write alone.
	ReconnectBufSize = 8 << 20
)

// ConnectConfig configures Connect.
type ConnectConfig struct {
	// URLs are the servers to try, e.g. from ParseURLList(--nats-url) or
	// Embedded.ClientURL().
	URLs []string
	// CredsFile is a NATS credentials file (JWT and NKey seed), for a
	// cluster with decentralised auth. At most one of CredsFile, TokenFile
	// and Token.
	CredsFile string
	// TokenFile holds the server's token.
	TokenFile string
	// Token is the token itself, for an in-process client of Embedded.
	Token string
	// InProcess, when set (Embedded.InProcess), connects to an embedded
	// server through an in-memory pipe instead of loopback TCP: no port, no
	// syscalls per message. URLs are then only for the error message.
	InProcess nats.InProcessConnProvider
	// Name is the client name the server shows in its connection list.
	Name string
	// Logger gets disconnect/reconnect notices. Default: a null logger.
	Logger hclog.Logger
}

// ConnectError is a failed first connection. URLs are redacted.
type ConnectError struct {
	URLs string
	Err  error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to nats at %s: %v", e.URLs, e.Err)
}
func (e *ConnectError) Unwrap() error { return e.Err }

// ErrAuthChoice is returned when more than one of CredsFile, TokenFile and
// Token is set.
var ErrAuthChoice = errors.New("nats: give at most one of a credentials file, a token file or a token")

// Connect dials the first reachable server of cfg.URLs. The first connection
// must succeed (an unreachable cluster at start is a *ConnectError naming the
// URLs and the cause); after it, the connection reconnects forever.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	if len(cfg.URLs) == 0 && cfg.InProcess == nil {
		return nil, &ConnectError{URLs: "(none)", Err: errors.New("no server URL")}
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	redacted := redactAll(cfg.URLs)
	if redacted == "" {
		redacted = "(in-process server)"
	}
	dialer := &recordingDialer{d: net.Dialer{Timeout: DialTimeout}, record: true}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(DialTimeout),
		nats.SetCustomDialer(dialer),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(ReconnectJitter, ReconnectJitter),
		nats.ReconnectBufSize(ReconnectBufSize),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected, reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", RedactURL(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats subscription error", "subject", sub.Subject, "error", err)
				return
			}
			log.Warn("nats error", "error", err)
		}),
	}
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess))
	}
	auth := 0
	if cfg.CredsFile != "" {
		auth++
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TokenFile != "" {
		auth++
		token, err := ReadTokenFile(cfg.TokenFile, log)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(token))
	}
	if cfg.Token != "" {
		auth++
		opts = append(opts, nats.Token(cfg.Token))
	}
	if auth > 1 {
		return nil, ErrAuthChoice
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	causes := dialer.stop()
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) && len(causes) > 0 {
			// nats.go reports refused connections only as "no servers";
			// the dial errors say why.
			err = fmt.Errorf("%w (%s)", err, strings.Join(causes, "; "))
		}
		return nil, &ConnectError{URLs: redacted, Err: err}
	}
	return nc, nil
}

// maxDialCauses caps the dial errors kept for the first connection's error
// message: one or two per server of a MaxURLs list.
const maxDialCauses = 2 * MaxURLs

// recordingDialer dials like nats.go's own dialer and, during the first
// connection, keeps each dial error: nats.go folds "connection refused"
// into ErrNoServers, which would leave the operator without the cause.
type recordingDialer struct {
	d net.Dialer

	mu     sync.Mutex
	record bool
	causes []string
}

func (r *recordingDialer) Dial(network, address string) (net.Conn, error) {
	c, err := r.d.Dial(network, address)
	if err != nil {
		r.mu.Lock()
		if r.record && len(r.causes) < maxDialCauses {
			r.causes = append(r.causes, err.Error())
		}
		r.mu.Unlock()
	}
	return c, err
}

// stop ends recording and returns what was recorded.
func (r *recordingDialer) stop() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record = false
	return r.causes
}
