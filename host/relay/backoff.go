package relay

import "time"

// BackoffDelay is the ceiling of the reconnect wait before dial number
// attempt (1-based) of a failure streak: min(base·2^(attempt−1), max), as in
// docs/protocol.md, Reconnect and backoff. It is 0 when base or max is 0 or
// less, and base for attempt < 1. The actual wait is Jitter of this value.
func BackoffDelay(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	if attempt < 1 {
		attempt = 1
	}
	d := base
	for i := 1; i < attempt; i++ {
		if d >= max || d > max/2 {
			return max
		}
		d *= 2
	}
	if d > max {
		return max
	}
	return d
}

// Jitter spreads a backoff ceiling d uniformly over [d/2, d]; u is a uniform
// sample in [0, 1) (docs/protocol.md, Reconnect and backoff). With u close to
// 1 the ladder is 1, 2, 4, 8 … seconds.
func Jitter(d time.Duration, u float64) time.Duration {
	if d <= 0 {
		return 0
	}
	if u < 0 {
		u = 0
	}
	if u > 1 {
		u = 1
	}
	half := d / 2
	return half + time.Duration(float64(d-half)*u)
}

// ladder is the reconnect backoff state of docs/protocol.md, Reconnect and
// backoff: attempt counts waits across connections and is reset only by a
// connection that stayed up at least stable, measured from its first
// descriptor.
type ladder struct {
	attempt           int
	base, max, stable time.Duration
}

// next returns the wait before the next dial, after a connection that was
// ready at readyAt (zero when it never completed a handshake) and ended at
// ended; u is the jitter sample in [0, 1).
func (l *ladder) next(readyAt, ended time.Time, u float64) time.Duration {
	if !readyAt.IsZero() && ended.Sub(readyAt) >= l.stable {
		l.attempt = 0
	}
	l.attempt++
	return Jitter(BackoffDelay(l.attempt, l.base, l.max), u)
}

// settle applies the reset rule for a connection that ended without
// failing (the dormant close): a connection that stayed up at least stable
// resets the ladder, and the attempt is not advanced either way
// (docs/protocol.md, Dormancy and wake: the dormant re-dial does not advance
// attempt).
func (l *ladder) settle(readyAt, ended time.Time) {
	if !readyAt.IsZero() && ended.Sub(readyAt) >= l.stable {
		l.attempt = 0
	}
}
