package plugins

import (
	"context"
	"errors"

	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// wedgeAfter consecutive forward timeouts (each one a forward the plugin
// did not answer within the forward deadline, DefaultForwardTimeout, with
// no answer in between) restart a plugin and mark it unhealthy: it is
// wedged (a deadlock, a stopped process, workers stuck on I/O), and left
// alone every later forward would time out too while it still looked up.
// A healthy plugin answers in microseconds, and a slow but working one
// keeps answering some forwards, which resets the count; three in a row is
// already 30 s without a single answer.
const wedgeAfter = 3

// noteForward records how a forward sent to proc ended: an answer resets
// the run of timeouts, a timeout extends it, and the wedgeAfter-th in a
// row closes proc's link, so that the supervisor kills it, marks it
// unhealthy and restarts it (forwards still in flight on it fail
// unacknowledged, for redelivery). Outcomes for an older process are
// ignored.
func (s *Supervisor) noteForward(proc *launcher.Process, err error) {
	timedOut := errors.Is(err, context.DeadlineExceeded)
	s.mu.Lock()
	if s.proc != proc || !s.serving || (err != nil && !timedOut) {
		s.mu.Unlock()
		return
	}
	if !timedOut {
		s.timeouts = 0
		s.mu.Unlock()
		return
	}
	s.timeouts++
	n := s.timeouts
	wedged := n == s.cfg.restart.wedgeAfter
	if wedged {
		s.wedged = true
	}
	s.mu.Unlock()
	if wedged {
		s.logger.Error("plugin answered none of its last forwards in time: restarting it", "pid", proc.PID, "timeouts", n)
		proc.Remote.Close() // supervise sees the link end: it kills, marks down (unhealthy) and restarts
	}
}
