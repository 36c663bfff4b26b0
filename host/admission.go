package host

import (
	"context"
	"sync"
	"time"

	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// Admission limits: the work in progress the host holds, and what happens at
// each bound (docs/operating.md, Limits and isolation, lists them all).
//
// The reader hands each delivery to the admission. A delivery starts at
// once (a goroutine, a "ticket") when a ticket is free and its platform's
// plugin window has room; otherwise it is parked, as data, in its
// platform's queue and starts when room appears, in arrival order per
// platform. Parking costs only the delivery's bytes, so the reader keeps
// reading while the plugins and the agent catch up; among what it reads are
// the outbound_results that replies and agent API calls wait for. Only when
// MaxInFlightBytes is reached does the reader wait, and then the
// WebSocket's flow control holds the connector back.
const (
	// MaxInFlight bounds the deliveries started and not finished: each
	// holds a goroutine from its start through plugin, agent and ack. 512
	// is two plugin windows, so that deliveries waiting on a slow agent do
	// not starve the plugins, at 8–16 KiB of stack and state each.
	MaxInFlight = 512
	// MaxInFlightBytes bounds the bytes of the deliveries admitted (parked
	// or started) and not yet settled: a forward's body, path, headers and
	// ids, an event's text and source, plus parkedOverhead each. 4 MiB
	// parks about 1,500 typical (2.5 KiB) forwards, as much as the link's
	// socket buffers hold (relay's linkReadBuffer and the connector's send
	// buffer), or four at the largest body a plugin takes
	// (pluginapi.MaxBodyBytes). Decoded, parked data takes about twice its
	// wire size, and the host's 64 MiB budget also holds the settled-id
	// ledger, the agent API's memory and the mapped executable: 8 MiB
	// took a flood's peak to 64 MiB. Past it the reader waits.
	MaxInFlightBytes = 4 << 20
	// PlatformWindow bounds the forwards of one platform in its plugin:
	// each plugin has its own window, so a slow plugin cannot hold the
	// slots of another. 256 is the plugin stream's pipelining window
	// (plugins.DefaultMaxInFlight, also per plugin).
	PlatformWindow = 256
	// PlatformShare bounds the bytes one platform holds (parked and in its
	// plugin) while another platform is in use (had a delivery within
	// OtherPlatformQuiet): half of MaxInFlightBytes. Past it the platform's
	// new forwards fail at once, un-acked like a plugin failure and
	// redelivered later, so that one flooded or slow platform cannot hold
	// up the others behind it on the socket. While no other platform is in
	// use a platform may fill MaxInFlightBytes, and the reader then waits:
	// only that platform's own forwards are held up, and nothing is lost.
	PlatformShare = MaxInFlightBytes / 2
	// OtherPlatformQuiet: see PlatformShare. Ten seconds is longer than a
	// plugin's per-forward deadline (plugins.DefaultForwardTimeout), so a
	// platform with a delivery that recent is one that is in use.
	OtherPlatformQuiet = 10 * time.Second
	// AdmitStallAfter is how long the reader waits for room while nothing
	// at all progresses (no delivery starts, leaves its plugin or
	// finishes). Past it the host is stuck on something that needs the
	// reader: an agent that calls the agent API from inside its webhook
	// handler and waits for an outbound_result that sits behind the unread
	// frames, or a connector that stops reading while its own writes are
	// held back. The reader then fails new forwards at once (un-acked,
	// redelivered later), reaching those frames, until something
	// progresses. It is well below the 30 s outbound timeout that would
	// otherwise end such a deadlock, and far above a normal delivery.
	AdmitStallAfter = 2 * time.Second
	// MaxPendingReplies bounds the replies whose result is awaited
	// (replies.go): each is a small record and a timer for up to the
	// outbound timeout (30 s), so 16,384 is a few MiB, and more than a
	// socket's buffers hold of forwards whose replies could be in
	// flight. Past it replies are sent untracked.
	MaxPendingReplies = 16384
	// MaxAgentCalls bounds concurrent agent hand-offs: a hung webhook
	// agent holds at most this many requests (and sockets); further events
	// wait for a free call within their delivery. 64 keeps a local agent
	// busy on every core of a large machine.
	MaxAgentCalls = 64
	// MaxAnswering bounds the deliveries sending their agent's answer
	// (the reply, split in parts, and the actions) once settled: each
	// waits for its outbound_results without holding an admission ticket,
	// so that the reader, which delivers those results, never waits on
	// them. 1,024 answers waiting at once is a connector a second or more
	// behind at a thousand replies a second; each holds a goroutine (a few
	// KiB). Past it a settled delivery keeps its ticket until an answer
	// finishes.
	MaxAnswering = 1024

	// parkedOverhead is what one delivery costs besides its payload bytes
	// (the decoded structs, the queue entry): counted so that a flood of
	// empty forwards is bounded too.
	parkedOverhead = 512
)

// Reasons a delivery is not started, as reported to Metrics.Shed.
const (
	// ShedPlatformBusy: the platform holds its share of the bytes while
	// another platform is in use (see PlatformShare).
	ShedPlatformBusy = "platform_busy"
	// ShedStalled: the host's bounds are full and nothing progressed
	// within AdmitStallAfter.
	ShedStalled = "stalled"
	// ShedStopping: the host is stopping.
	ShedStopping = "stopping"
)

// admission holds the host's bounds on work in progress and the queues of
// parked deliveries. Its lock is never held while a delivery runs.
type admission struct {
	ctx   context.Context  // ends when the host stops: nothing more is admitted
	start func(run func()) // runs a started delivery on its own goroutine

	mu         sync.Mutex
	count      int              // deliveries started and not finished
	bytes      int              // bytes admitted and not settled
	lanes      map[string]*lane // plugin platforms; fixed at creation
	direct     *lane            // everything else: inbound events, forwards no plugin serves
	order      []*lane          // lanes in round-robin order, direct last
	next       int              // where the next round-robin scan starts
	progressAt time.Time        // last start, lane exit or finish
	gen        uint64           // counts progress, so a waiter sees what it did not wait for yet
	waiting    int              // admit calls waiting for room (the reader: 0 or 1)
	changed    notify.Signal    // notified on progress, and when a wait starts
}

// lane is one platform's plugin stage: the forwards in its plugin, and its
// queue of parked ones.
type lane struct {
	window   int    // how many may be in the plugin stage
	inStage  int    // how many are
	queue    []*job // parked, oldest first (queue[head:])
	head     int
	bytes    int       // parked, and in the plugin stage
	lastUsed time.Time // last admission
}

// job is one parked delivery.
type job struct {
	bytes int
	run   func(*ticket)
}

// ticket is one started delivery's share of the bounds.
type ticket struct {
	a       *admission
	lane    *lane // until the delivery leaves its plugin stage
	size    int   // its bytes, counted in lane until then
	bytes   int   // until it is settled
	running bool  // until it finishes
}

func newAdmission(ctx context.Context, platforms []string, start func(func())) *admission {
	a := &admission{ctx: ctx, start: start, lanes: map[string]*lane{}}
	for _, p := range platforms {
		l := &lane{window: PlatformWindow}
		a.lanes[p] = l
		a.order = append(a.order, l)
	}
	a.direct = &lane{window: MaxInFlight}
	a.order = append(a.order, a.direct)
	a.progressAt = time.Now()
	return a
}

// admit takes one delivery of size payload bytes for platform ("" for an
// inbound event): run starts it with its ticket, now or once room appears.
// It waits (on the reader) while there is no room to start or park it, and
// returns "" once it is admitted, or the reason (one of the Shed* reasons)
// when it must not be started: the caller leaves it un-acked.
func (a *admission) admit(platform string, size int, run func(*ticket)) string {
	size += parkedOverhead
	a.mu.Lock()
	l := a.direct
	if pl, ok := a.lanes[platform]; ok && platform != "" {
		l = pl
	}
	for {
		now := time.Now()
		fits := a.bytes+size <= MaxInFlightBytes || a.bytes == 0
		if fits && l.parked() == 0 && l.inStage < l.window && a.count < MaxInFlight {
			l.lastUsed = now
			t := a.startLocked(l, size, now)
			a.mu.Unlock()
			a.start(func() { run(t) })
			return ""
		}
		overShare := l != a.direct && l.bytes+size > PlatformShare && a.othersInUse(l, now)
		if overShare {
			a.mu.Unlock()
			return ShedPlatformBusy
		}
		if fits {
			l.lastUsed = now
			l.queue = append(l.queue, &job{bytes: size, run: run})
			l.bytes += size
			a.bytes += size
			a.mu.Unlock()
			return ""
		}
		stall := a.progressAt.Add(AdmitStallAfter)
		if !now.Before(stall) {
			a.mu.Unlock()
			return ShedStalled
		}
		gen := a.gen
		a.waiting++
		a.mu.Unlock()
		a.changed.Notify()
		ok := a.wait(gen, stall)
		a.mu.Lock()
		a.waiting--
		if !ok {
			a.mu.Unlock()
			return ShedStopping
		}
	}
}

// othersInUse reports whether a lane other than l had a delivery within
// OtherPlatformQuiet.
func (a *admission) othersInUse(l *lane, now time.Time) bool {
	for _, o := range a.order {
		if o != l && !o.lastUsed.IsZero() && now.Sub(o.lastUsed) < OtherPlatformQuiet {
			return true
		}
	}
	return false
}

// startLocked takes a ticket for a delivery of size bytes in lane l whose
// bytes are not counted yet; the caller holds mu.
func (a *admission) startLocked(l *lane, size int, now time.Time) *ticket {
	t := &ticket{a: a, size: size, bytes: size, running: true}
	a.count++
	a.bytes += size
	if l != a.direct {
		l.inStage++
		l.bytes += size
		t.lane = l
	}
	a.progress(now)
	return t
}

// progress records that something moved; the caller holds mu.
func (a *admission) progress(now time.Time) {
	a.progressAt = now
	a.gen++
}

// wait blocks until progress after generation gen, until, or the host
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

func (l *lane) parked() int { return len(l.queue) - l.head }

// pop removes the oldest parked job.
func (l *lane) pop() *job {
	j := l.queue[l.head]
	l.queue[l.head] = nil
	l.head++
	if l.head == len(l.queue) {
		l.queue, l.head = l.queue[:0], 0
	} else if l.head > 1024 && l.head*2 > len(l.queue) {
		l.queue, l.head = append(l.queue[:0], l.queue[l.head:]...), 0
	}
	return j
}

// startParked starts parked deliveries, taking the lanes in turn, while
// tickets and windows allow; the caller holds mu. It returns what to run
// once the lock is released.
func (a *admission) startParked(now time.Time) []func() {
	var runs []func()
	for a.count < MaxInFlight && a.ctx.Err() == nil {
		started := false
		for i := range a.order {
			l := a.order[(a.next+i)%len(a.order)]
			if l.parked() == 0 || l.inStage >= l.window {
				continue
			}
			j := l.pop()
			a.bytes -= j.bytes // counted again by startLocked
			l.bytes -= j.bytes
			t := a.startLocked(l, j.bytes, now)
			runs = append(runs, func() { j.run(t) })
			a.next = (a.next + i + 1) % len(a.order)
			started = true
			break
		}
		if !started {
			break
		}
	}
	return runs
}

// after records progress, starts what it made room for, and wakes the
// reader; the caller holds mu, which after releases.
func (a *admission) after(now time.Time) {
	a.progress(now)
	runs := a.startParked(now)
	a.mu.Unlock()
	for _, r := range runs {
		a.start(r)
	}
	a.changed.Notify()
}

// leaveLane ends the ticket's plugin stage.
func (t *ticket) leaveLane() {
	a := t.a
	a.mu.Lock()
	if t.lane == nil {
		a.mu.Unlock()
		return
	}
	t.lane.inStage--
	t.lane.bytes -= t.size
	t.lane = nil
	a.after(time.Now())
}

// settled gives back the ticket's bytes: the delivery's data is no longer
// held.
func (t *ticket) settled() {
	a := t.a
	a.mu.Lock()
	a.bytes -= t.bytes
	t.bytes = 0
	a.after(time.Now())
}

// release ends the delivery: every share it still holds is given back. It
// is idempotent.
func (t *ticket) release() {
	a := t.a
	a.mu.Lock()
	if !t.running {
		a.mu.Unlock()
		return
	}
	t.running = false
	if t.lane != nil {
		t.lane.inStage--
		t.lane.bytes -= t.size
		t.lane = nil
	}
	a.bytes -= t.bytes
	t.bytes = 0
	a.count--
	a.after(time.Now())
}

// inFlight returns the deliveries started and not finished, and the bytes
// admitted and not settled.
func (a *admission) inFlight() (count, bytes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count, a.bytes
}

// drop forgets every parked delivery (the host is stopping: they stay
// un-acked and are redelivered) and returns how many there were.
func (a *admission) drop() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, l := range a.order {
		for l.parked() > 0 {
			j := l.pop()
			a.bytes -= j.bytes
			l.bytes -= j.bytes
			n++
		}
	}
	return n
}

// forwardBytes is what a forward's payload counts against
// MaxInFlightBytes: its body and strings.
func forwardBytes(f pluginapi.Forward) int {
	n := len(f.Body) + len(f.Platform) + len(f.BotID) + len(f.Method) + len(f.Path) + len(f.Profile) + len(f.BufferID)
	for _, h := range f.Headers {
		n += len(h.Name) + len(h.Value)
	}
	return n
}

// eventBytes is what an inbound event's payload counts against
// MaxInFlightBytes: its text and the strings of its source, the bulk of it.
func eventBytes(ev pluginapi.MessageEvent) int {
	s := ev.Source
	n := len(ev.Text) + len(ev.ReplyToText) + len(ev.SessionKey) + len(s.ChatID) + len(s.ChatName) + len(s.ChatTopic) +
		len(s.UserID) + len(s.UserName) + len(s.ThreadID) + len(s.MessageID) + len(s.ScopeID)
	for _, u := range ev.MediaURLs {
		n += len(u)
	}
	return n
}
