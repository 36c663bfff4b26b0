// Package logguard keeps peer-controlled text and per-delivery log lines
// within bounds: Clip shortens a string taken from a frame, a plugin or an
// agent to a fixed size of valid UTF-8 before it becomes a log field, and a
// Limiter lets through a burst of each kind of line and then one a second,
// counting what it held back. A connector that sends thousands of bad
// frames, or a plugin that fails every forward, then costs a few lines a
// second of log, not one line per frame of any size.
package logguard

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Field lengths, in bytes before the ellipsis.
const (
	// MaxField is the longest field Clip lets through: long enough for any
	// id, session key or path worth reading.
	MaxField = 128
	// MaxError is the longest error text ClipError lets through: a chain
	// of wrapped errors is longer than an id, and worth reading whole.
	MaxError = 512
)

// Clip returns s cut to MaxField bytes at a character boundary, with "…"
// appended when it was cut, and with invalid UTF-8 replaced by U+FFFD.
func Clip(s string) string { return clip(s, MaxField) }

// ClipError is Clip for an error's text, at MaxError bytes.
func ClipError(err error) string {
	if err == nil {
		return ""
	}
	return clip(err.Error(), MaxError)
}

func clip(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > max {
		n := max
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

// Limiter defaults: a burst of Burst lines of one kind, then one every
// Interval. A healthy host logs a handful of such lines an hour; a storm of
// them says the same thing every time.
const (
	Burst    = 10
	Interval = time.Second
)

// Limiter rate-limits log lines by kind (usually the message). It is safe
// for concurrent use; the zero value is not ready, use NewLimiter.
type Limiter struct {
	now func() time.Time

	mu    sync.Mutex
	kinds map[string]*bucket
}

// maxKinds bounds the kinds a Limiter tracks; kinds are the host's own
// message texts, a few dozen, so this is only a guard.
const maxKinds = 256

type bucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

// NewLimiter returns a Limiter; now is the clock (time.Now when nil).
func NewLimiter(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, kinds: map[string]*bucket{}}
}

// Allow reports whether a line of this kind may be written now and, when it
// may, how many lines of the kind were held back since the last one written
// (to be logged with it, e.g. as "suppressed").
func (l *Limiter) Allow(kind string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.kinds[kind]
	if b == nil {
		if len(l.kinds) >= maxKinds {
			for k := range l.kinds { // drop any one: a guard, not a policy
				delete(l.kinds, k)
				break
			}
		}
		b = &bucket{tokens: Burst, last: now}
		l.kinds[kind] = b
	}
	b.tokens = min(Burst, b.tokens+now.Sub(b.last).Seconds()/Interval.Seconds())
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	n := b.suppressed
	b.suppressed = 0
	return true, n
}
