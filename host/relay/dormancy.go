package relay

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/relayhost/relay-host/pluginapi"
)

// Dormancy (scale to zero, docs/protocol.md, Dormancy and wake): with
// Config.DormantAfter set, a link that has been quiet that long asks the
// connector to buffer (going_idle) and, on going_idle_ack, closes its
// socket and dials again only when woken. A missed ack keeps the link up;
// the next attempt comes DormantAfter later. A wake (Wake, or an Outbound
// call while dormant) dials at once, at most one dial per DormantCadence,
// without advancing the backoff ladder; the connector then replays what it
// buffered.

// DormantCloseReason is the close reason of the dormant close (code 1000).
const DormantCloseReason = "going dormant"

// busyRecheck is how soon the link looks again when it found work in
// progress at the end of a quiet period, and how often it checks, after
// going_idle_ack, whether the work that landed in the flip window is done.
// A delivery takes milliseconds; a tenth of a second keeps the dormant
// close within that of the work ending, for a negligible cost.
const busyRecheck = 100 * time.Millisecond

// dormantSettleLimit bounds the wait, after going_idle_ack, for work in
// progress to finish before the dormant close: the outbound timeout
// (DefaultOutboundTimeout, 30 s), by which every reply in flight has its
// answer. A delivery still running then is cut off; it was not acked, so
// the connector replays it after the next wake.
const dormantSettleLimit = DefaultOutboundTimeout

// WakeState is what a wake found, as the host's /wake reports it.
type WakeState string

// Wake states.
const (
	// WakeConnected: the link is up; the wake changed nothing.
	WakeConnected WakeState = "connected"
	// WakeWaking: the link is dormant or on its way back; a dial is due.
	WakeWaking WakeState = "waking"
)

// Touch records activity now: the link goes dormant only DormantAfter
// after the last activity. The transport records deliveries and outbound
// requests itself; the host calls Touch for activity the transport cannot
// see. It is cheap and safe for concurrent use.
func (c *Client) Touch() { c.lastActive.Store(time.Now().UnixNano()) }

// Wake brings a dormant link back: Run dials at once (at most one dial per
// DormantCadence; wakes coalesce), without advancing the backoff ladder.
// A wake while connected is a no-op and returns WakeConnected (it does not
// count as activity, so stray wakes cannot keep a link from going
// dormant; a wake that lands while the link is going dormant brings it
// back right after the close). Otherwise it returns WakeWaking: dormant,
// dialing, or waiting to re-dial after a failure, which a wake does not cut
// short. It never blocks.
func (c *Client) Wake() WakeState {
	c.lastWake.Store(time.Now().UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case StateConnected:
		return WakeConnected
	case StateDormant:
		select {
		case c.wakeCh <- struct{}{}:
		default: // a wake is already pending
		}
	}
	return WakeWaking
}

// Dormant reports whether the link is away by choice: it closed after
// going_idle_ack and has not completed a handshake since (a wake's dial in
// progress still counts as dormant).
func (c *Client) Dormant() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dormant
}

// activityHandler records every delivery as activity before handing it to
// the host's Handler.
type activityHandler struct {
	next Handler
	c    *Client
}

func (h activityHandler) Inbound(ev pluginapi.MessageEvent, bufferID string) {
	h.c.Touch()
	h.next.Inbound(ev, bufferID)
}

func (h activityHandler) Passthrough(f pluginapi.Forward) {
	h.c.Touch()
	h.next.Passthrough(f)
}

func (h activityHandler) InterruptInbound(sessionKey, chatID string) {
	h.c.Touch()
	h.next.InterruptInbound(sessionKey, chatID)
}

// serve waits for a handshaken connection to end: the reader exits, or ctx
// ends (the deliberate close). With DormantAfter set it also takes the link
// dormant once quiet, and reports true when it closed the connection for
// that.
func (c *Client) serve(ctx context.Context, cn *conn) bool {
	var quiet <-chan time.Time
	var t *time.Timer
	if c.cfg.DormantAfter > 0 {
		c.Touch() // a fresh connection gets a whole quiet period
		t = time.NewTimer(c.cfg.DormantAfter)
		defer t.Stop()
		quiet = t.C
	}
	for {
		select {
		case <-cn.readerDone:
			return false
		case <-ctx.Done():
			cn.shutdown(websocket.StatusNormalClosure, "gateway shutting down", true)
			return false
		case <-quiet:
		}
		if wait := c.untilQuiet(); wait > 0 {
			t.Reset(wait)
			continue
		}
		if c.goDormant(ctx, cn) {
			return true
		}
		t.Reset(c.cfg.DormantAfter)
	}
}

// busy reports work in progress: an outbound request in flight, or the
// host's Busy.
func (c *Client) busy() bool {
	c.mu.Lock()
	n := c.inflight
	c.mu.Unlock()
	return n > 0 || (c.cfg.Busy != nil && c.cfg.Busy())
}

// untilQuiet returns how long until the link has been quiet for
// DormantAfter, 0 when it has. Work in progress counts as activity now.
func (c *Client) untilQuiet() time.Duration {
	if c.busy() {
		c.Touch()
		return min(busyRecheck, c.cfg.DormantAfter)
	}
	since := time.Since(time.Unix(0, c.lastActive.Load()))
	return max(0, c.cfg.DormantAfter-since)
}

// goDormant asks the connector to buffer and, on its ack, closes the
// connection once the work in progress is done. It reports whether it
// closed it; on a missed ack the link stays up.
func (c *Client) goDormant(ctx context.Context, cn *conn) bool {
	c.idleSent = time.Now()
	c.log.Info("relay going dormant: no activity; asking the connector to buffer (going_idle)", "gen", cn.gen, "quiet_for", c.cfg.DormantAfter)
	if !c.goIdle(ctx, cn) {
		select {
		case <-cn.readerDone:
		case <-ctx.Done():
		default:
			c.log.Warn("relay staying connected: the connector did not acknowledge going_idle; trying again later", "gen", cn.gen, "retry_in", c.cfg.DormantAfter)
		}
		return false
	}
	if !c.settleForDormancy(ctx, cn) {
		return false
	}
	c.log.Info("relay dormant: closing the link until a wake; the connector buffers meanwhile", "gen", cn.gen)
	cn.shutdown(websocket.StatusNormalClosure, DormantCloseReason, false)
	return true
}

// settleForDormancy waits, after going_idle_ack, until no work is in
// progress (deliveries that landed in the flip window, their replies), at
// most dormantSettleLimit. It returns false when the connection ended or
// ctx ended first.
func (c *Client) settleForDormancy(ctx context.Context, cn *conn) bool {
	if !c.busy() {
		return true
	}
	c.log.Info("relay work in progress: closing the link once it is done", "gen", cn.gen)
	limit := time.NewTimer(dormantSettleLimit)
	defer limit.Stop()
	tick := time.NewTicker(busyRecheck)
	defer tick.Stop()
	for {
		select {
		case <-cn.readerDone:
			return false
		case <-ctx.Done():
			return false
		case <-limit.C:
			c.log.Warn("relay work still in progress; going dormant anyway (what was not acknowledged is replayed after the wake)", "gen", cn.gen, "waited", dormantSettleLimit)
			return true
		case <-tick.C:
			if !c.busy() {
				return true
			}
		}
	}
}

// enterDormant marks the link dormant. A wake that arrived while the link
// was still up is dropped from the channel here; sleep looks at lastWake
// for it instead.
func (c *Client) enterDormant() {
	select {
	case <-c.wakeCh:
	default:
	}
	c.mu.Lock()
	c.dormant = true
	c.mu.Unlock()
	c.setState(StateDormant)
}

// sleep keeps the link dormant until a wake, then waits out the dormant
// cadence (wakeDelay) so that wakes cost at most one dial per
// DormantCadence. A wake that came after going_idle was sent (during the
// flip, before the close) counts. It returns false when ctx ended first.
func (c *Client) sleep(ctx context.Context, gen uint64) bool {
	c.enterDormant()
	if time.Unix(0, c.lastWake.Load()).Before(c.idleSent) {
		c.log.Info("relay dormant: no dial until a wake", "gen", gen)
		select {
		case <-c.wakeCh:
		case <-ctx.Done():
			return false
		}
	}
	wait := wakeDelay(c.lastDial, time.Now())
	c.log.Info("relay waking: dialing the connector", "wait", wait.Round(time.Millisecond))
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// wakeDelay is how long a wake at now waits before its dial: until
// DormantCadence after the last dial started, never longer than
// DormantCadence, and not at all when the last dial is older.
func wakeDelay(lastDial, now time.Time) time.Duration {
	return min(max(lastDial.Add(DormantCadence).Sub(now), 0), DormantCadence)
}

// awaken wakes a dormant link for an outbound call and waits, within the
// outbound timeout and ctx, for its handshake.
func (c *Client) awaken(ctx context.Context) {
	c.Wake()
	wctx, cancel := context.WithTimeout(ctx, c.cfg.OutboundTimeout)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		c.log.Debug("relay outbound woke the dormant link, which is not back yet", "error", err)
	}
}

// dropIdleWaiter forgets a going_idle waiter that stopped waiting, so
// that dormancy attempts the connector never acknowledges do not pile up.
func (cn *conn) dropIdleWaiter(ch chan struct{}) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for i, w := range cn.idle {
		if w == ch {
			cn.idle = append(cn.idle[:i], cn.idle[i+1:]...)
			return
		}
	}
}
