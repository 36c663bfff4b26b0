package jetstream

import (
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// serverLog carries the embedded nats-server's log lines into hclog. The
// server's notices (its banner, JetStream's store report, client
// connections) are chatter for relay-host's operator and go at DEBUG;
// warnings and errors keep their level, because a full disk or a corrupt
// store must be seen. Protocol tracing is never switched on: it would print
// message payloads, which are users' messages. The last fatal error is kept
// for StartEmbedded's error (a port already in use is reported that way),
// and the last error for a JetStream that did not start.
type serverLog struct {
	log hclog.Logger

	mu      sync.Mutex
	fatal   string
	lastErr string
}

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	l.mu.Lock()
	l.lastErr = msg
	l.mu.Unlock()
}
func (l *serverLog) Debugf(format string, v ...any) { l.log.Trace(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any) { l.log.Trace(fmt.Sprintf(format, v...)) }

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	l.mu.Lock()
	l.fatal = msg
	l.mu.Unlock()
}

// lastFatal returns the last fatal message, or "".
func (l *serverLog) lastFatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

// lastError returns the last error or fatal message, or "".
func (l *serverLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal != "" {
		return l.fatal
	}
	return l.lastErr
}
