package host

import (
	"context"
	"sync"
	"time"

	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// Admission limits: the work in progress the host holds, and what happens at
// each bound (docs/operating.md, Limits and isolation).
const (
	// MaxInFlight bounds the deliveries (passthrough forwards and inbound
	// events) admitted and not finished: each holds a goroutine from its
	// arrival through plugin, agent, ack and replies. When it is reached the
	// reader stops reading the socket, and the WebSocket's own flow control
	// (TCP) holds the connector back. 1,024 is four times the plugin window
	// that keeps a plugin at its full speed (docs/performance.md), so that
	// deliveries waiting on their replies' results do not starve the
	// plugins; at a few KiB of stack and state each it is a few MiB.
	MaxInFlight = 1024
	// MaxInFlightBytes bounds the bytes of the forwards (body, path,
	// headers and ids) and events admitted and not yet settled; past it the
	// reader stops reading, as for MaxInFlight. 16 MiB holds thousands of
	// typical (2 KiB) forwards, or sixteen at the largest body a plugin
	// takes (pluginapi.MaxBodyBytes), within the host's 64 MiB budget.
	MaxInFlightBytes = 16 << 20
	// PlatformWindow bounds the forwards of one platform in its plugin
	// stage: each plugin has its own window, so a slow plugin cannot hold
	// the slots of another platform. 256 is the plugin stream's
	// pipelining window (plugins.DefaultMaxInFlight), now per plugin.
	PlatformWindow = 256
	// SlowPluginAfter is how long a forward may be in its plugin before
	// the plugin counts as slow: a conversion takes microseconds to
	// milliseconds, so a second means a plugin that is hung, crash-looping
	// or doing slow work. While a plugin is slow and its window is full, its
	// new forwards fail at once (un-acked, like a plugin failure, and
	// redelivered later) rather than holding the reader; while it keeps up,
	// a full window holds the reader like the global bounds do.
	SlowPluginAfter = time.Second
	// AdmitStallAfter is how long the reader waits, at a full MaxInFlight or
	// MaxInFlightBytes, for any delivery to finish. Past it the host is
	// stuck on something that needs the reader (an agent that calls the
	// agent API inside its webhook handler, replies, whose results sit
	// behind the unread frames): the reader then fails new forwards at once
	// (un-acked, redelivered later), reaching those results, until a
	// delivery finishes. It is well below the 30 s outbound timeout that
	// would otherwise end such a deadlock, and above any normal delivery.
	AdmitStallAfter = 2 * time.Second
	// MaxAgentCalls bounds concurrent agent hand-offs: a hung webhook
	// agent holds at most this many requests (and sockets); further
	// events wait for a free call within their delivery. 64 keeps
	// a local agent busy on every core of a large machine.
	MaxAgentCalls = 64
)

// Reasons a delivery is not started, as reported to Metrics.Shed.
const (
	// ShedPluginSlow: the platform's plugin window is full and the plugin
	// is slow (see SlowPluginAfter).
	ShedPluginSlow = "plugin_slow"
	// ShedStalled: the host's bounds are full and nothing finished within
	// AdmitStallAfter.
	ShedStalled = "stalled"
	// ShedStopping: the host is stopping.
	ShedStopping = "stopping"
)

// admission holds the host's bounds on work in progress: the global count
// and bytes, and one lane per plugin platform. The reader asks it for a
// ticket per delivery (admit) and blocks while the bounds are full.
type admission struct {
	ctx context.Context // ends when the host stops: nothing more is admitted

	mu         sync.Mutex
	count      int
	bytes      int
	progressAt time.Time        // last admission or release
	lanes      map[string]*lane // by platform; fixed at creation
	gen        uint64           // counts releases, so a waiter sees one it did not wait for yet
	changed    notify.Signal    // notified on every release

	now func() time.Time // the clock (tests)
}

// lane is the plugin stage of one platform: the tickets in it, with the
// time each entered.
type lane struct {
	in map[*ticket]time.Time
}

// ticket is one admitted delivery's share of the bounds.
type ticket struct {
	a     *admission
	lane  *lane // nil once out of the plugin stage, or without one
	bytes int   // 0 once settled
	done  bool
}

func newAdmission(ctx context.Context, platforms []string) *admission {
	a := &admission{ctx: ctx, lanes: map[string]*lane{}, now: time.Now}
	for _, p := range platforms {
		a.lanes[p] = &lane{in: map[*ticket]time.Time{}}
	}
	a.progressAt = a.now()
	return a
}

// admit waits for room for one delivery of size bytes whose plugin stage is
// the lane of platform ("" or a platform no plugin serves: no plugin stage),
// and returns its ticket. It returns nil and the reason when the delivery
// must not be started (see the Shed* reasons); the caller then leaves it
// un-acked.
func (a *admission) admit(platform string, size int) (*ticket, string) {
	a.mu.Lock()
	l := a.lanes[platform]
	for {
		now := a.now()
		laneFull := l != nil && len(l.in) >= PlatformWindow
		full := a.count >= MaxInFlight || (a.count > 0 && a.bytes+size > MaxInFlightBytes)
		if !laneFull && !full {
			t := &ticket{a: a, bytes: size}
			a.count++
			a.bytes += size
			a.progressAt = now
			if l != nil {
				l.in[t] = now
				t.lane = l
			}
			a.mu.Unlock()
			return t, ""
		}
		// Decide when waiting stops being worth it.
		var giveUp time.Time
		if laneFull {
			oldest := l.oldest()
			if now.Sub(oldest) >= SlowPluginAfter {
				a.mu.Unlock()
				return nil, ShedPluginSlow
			}
			giveUp = oldest.Add(SlowPluginAfter)
		}
		if full {
			stall := a.progressAt.Add(AdmitStallAfter)
			if !now.Before(stall) {
				a.mu.Unlock()
				return nil, ShedStalled
			}
			if giveUp.IsZero() || stall.Before(giveUp) {
				giveUp = stall
			}
		}
		gen := a.gen
		a.mu.Unlock()
		if !a.wait(gen, giveUp) {
			return nil, ShedStopping
		}
		a.mu.Lock()
	}
}

// wait blocks until a release after generation gen, until, or the host
// stops (false).
func (a *admission) wait(gen uint64, until time.Time) bool {
	ctx, cancel := context.WithDeadline(a.ctx, until)
	defer cancel()
	_ = a.changed.Wait(ctx, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.gen != gen
	})
	return a.ctx.Err() == nil
}

// oldest returns when the longest-running ticket of the lane entered it;
// the lane is not empty.
func (l *lane) oldest() time.Time {
	var min time.Time
	for _, at := range l.in {
		if min.IsZero() || at.Before(min) {
			min = at
		}
	}
	return min
}

// leaveLane ends the ticket's plugin stage.
func (t *ticket) leaveLane() {
	a := t.a
	a.mu.Lock()
	if t.lane != nil {
		delete(t.lane.in, t)
		t.lane = nil
		a.progressAt = a.now()
		a.gen++
	}
	a.mu.Unlock()
	a.changed.Notify()
}

// settled releases the ticket's bytes: the forward's data is no longer held.
func (t *ticket) settled() {
	a := t.a
	a.mu.Lock()
	a.bytes -= t.bytes
	t.bytes = 0
	a.progressAt = a.now()
	a.gen++
	a.mu.Unlock()
	a.changed.Notify()
}

// release ends the delivery: every share it held is given back. It is
// idempotent.
func (t *ticket) release() {
	a := t.a
	a.mu.Lock()
	if t.done {
		a.mu.Unlock()
		return
	}
	t.done = true
	if t.lane != nil {
		delete(t.lane.in, t)
		t.lane = nil
	}
	a.bytes -= t.bytes
	t.bytes = 0
	a.count--
	a.progressAt = a.now()
	a.gen++
	a.mu.Unlock()
	a.changed.Notify()
}

// inFlight returns the deliveries and bytes admitted and not released.
func (a *admission) inFlight() (count, bytes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count, a.bytes
}

// forwardBytes is what a forward counts against MaxInFlightBytes: its
// body and strings.
func forwardBytes(f pluginapi.Forward) int {
	n := len(f.Body) + len(f.Platform) + len(f.BotID) + len(f.Method) + len(f.Path) + len(f.Profile) + len(f.BufferID)
	for _, h := range f.Headers {
		n += len(h.Name) + len(h.Value)
	}
	return n
}

// eventBytes is what an inbound event counts against MaxInFlightBytes: its
// text and the strings of its source, the bulk of it.
func eventBytes(ev pluginapi.MessageEvent) int {
	s := ev.Source
	n := len(ev.Text) + len(ev.ReplyToText) + len(ev.SessionKey) + len(s.ChatID) + len(s.ChatName) + len(s.ChatTopic) +
		len(s.UserID) + len(s.UserName) + len(s.ThreadID) + len(s.MessageID) + len(s.ScopeID)
	for _, u := range ev.MediaURLs {
		n += len(u)
	}
	return n
}
