package plugins

import (
	"context"
	"errors"
	"time"

	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// wedgeAfter consecutive forward timeouts (each one a forward the plugin
// did not answer within the forward deadline, DefaultForwardTimeout, while
// it answered nothing else either) restart a plugin and mark it unhealthy:
// it is wedged (a deadlock, a stopped process, workers stuck on I/O that
// ignores the deadline), and left alone every later forward would time out
// too while it still looked up. A healthy plugin answers in microseconds; a
// slow or overloaded one keeps answering some forwards, and a timeout with
// answers during its flight neither counts nor lets the run go on. Three in
// a row is already 30 s without a single answer.
const wedgeAfter = 3

// noteForward records how a forward sent to proc at sent ended: an answer
// resets the run of timeouts; a timeout extends it, unless proc answered
// another forward meanwhile (then it is slowness, and the run starts over);
// the wedgeAfter-th in a row closes proc's link, so that the supervisor
// kills it, marks it unhealthy and restarts it (forwards still in flight on
// it fail unacknowledged, for redelivery). Outcomes for an older process,
// and failures other than a timeout, are ignored.
func (s *Supervisor) noteForward(proc *launcher.Process, sent time.Time, err error) {
	timedOut := errors.Is(err, context.DeadlineExceeded)
	now := time.Now()
	s.mu.Lock()
	if s.proc != proc || !s.serving || (err != nil && !timedOut) {
		s.mu.Unlock()
		return
	}
	if !timedOut {
		s.timeouts, s.lastAnswer = 0, now
		s.mu.Unlock()
		return
	}
	if s.lastAnswer.After(sent) {
		s.timeouts = 0 // it answered others while this one waited
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
