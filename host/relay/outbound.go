package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relayhost/relay-host/host/internal/wire"
)

// json.RawMessage). platform tags the egress platform ("" for the session
// default); botID goes with it, and when it is "" the botId of the fronted
// identity for that platform is used.
//
// Outbound never returns an error. It fails fast, not ambiguous, while the
// client is closing ("relay transport closed"), when there is no socket
// ("relay transport not connected") and when the write fails ("relay send
// failed: …"). Once the frame is on the wire, every failure is ambiguous: no
// answer within OutboundTimeout ("relay outbound timed out"), the connection
// dropping ("relay transport connection lost"; the reference leaves this one
// unflagged; docs/architecture.md, Protocol notes), Close giving up on it
// ("relay send failed: relay transport closed") and ctx ending ("relay send
// failed: context …").
func (c *Client) Outbound(ctx context.Context, action any, platform, botID string) OutboundResult {
	if platform != "" && botID == "" {
		botID = c.botIDFor(platform)
	}
	reqID := wire.NewRequestID()
	frame, err := wire.EncodeOutbound(reqID, action, platform, botID)
	if err != nil {
		return OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()}
	}
	if c.Dormant() {
		// The host needs the link: a dormant link dials at once, and the
		// call waits for the handshake within its timeout (docs/protocol.md,
		// Dormancy and wake).
		c.awaken(ctx)
	}
	ch := make(chan OutboundResult, 1)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return OutboundResult{Error: ErrTextClosed}
	}
	cn := c.conn
	if cn == nil || !cn.addPending(reqID, pendingOutbound{ch: ch}) {
		c.mu.Unlock()
		return OutboundResult{Error: ErrTextNotConnected}
	}
	c.inflight++
	c.mu.Unlock()
	defer c.doneInflight()

	if err := cn.write(wire.TypeOutbound, frame); err != nil {
		cn.dropPending(reqID)
		c.log.Debug("relay outbound write failed", "request_id", reqID, "error", err)
		return OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()}
	}
	t := time.NewTimer(c.cfg.OutboundTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r
	case <-t.C:
		cn.dropPending(reqID)
		select {
		case r := <-ch: // the answer raced the timer
			return r
		default:
		}
		c.log.Warn("relay outbound timed out; outcome unknown", "request_id", reqID, "timeout", c.cfg.OutboundTimeout)
		return OutboundResult{Error: ErrTextTimedOut, Ambiguous: true}
	case <-ctx.Done():
		cn.dropPending(reqID)
		select {
		case r := <-ch:
			return r
		default:
		}
		return OutboundResult{Error: ErrTextSendFailed + ": " + ctx.Err().Error(), Ambiguous: true}
	}
}

func (c *Client) doneInflight() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	c.Touch() // DormantAfter counts from the end of the last request
	if c.inflight == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// AckInbound sends inbound_ack for a buffered delivery once the host has
// durably handed it off or deliberately dropped it (docs/protocol.md,
// inbound_ack and Acks). The ack goes over the current socket (also while
// Close is draining). It fails only when there is no socket or the write
// fails; the connector then simply redelivers the item on the next
// connection.
func (c *Client) AckInbound(bufferID string) error {
	if bufferID == "" {
		return errors.New("relay: ack inbound: empty bufferId")
	}
	cn := c.current()
	if cn == nil {
		return fmt.Errorf("ack inbound: %w", ErrNotConnected)
	}
	if err := cn.write(wire.TypeInboundAck, wire.EncodeInboundAck(bufferID)); err != nil {
		return fmt.Errorf("ack inbound: %w", err)
	}
	return nil
}

// Interrupt sends a fire-and-forget interrupt for sessionKey; an empty
// reason is sent as null (docs/protocol.md, interrupt).
func (c *Client) Interrupt(sessionKey, reason string) error {
	cn := c.current()
	if cn == nil {
		return fmt.Errorf("send interrupt: %w", ErrNotConnected)
	}
	if err := cn.write(wire.TypeInterrupt, wire.EncodeInterrupt(sessionKey, reason)); err != nil {
		return fmt.Errorf("send interrupt: %w", err)
	}
	return nil
}

// GoIdle asks the connector to switch this instance to buffered-only delivery
// and waits for going_idle_ack (docs/protocol.md, Going idle), at most
// GoingIdleTimeout or until ctx ends. The reader keeps serving meanwhile, so
// deliveries that land in the flip window still arrive live. It returns true
// on the ack, false when not connected, closing, on timeout, or when the
// connection drops.
func (c *Client) GoIdle(ctx context.Context) bool {
	c.mu.Lock()
	cn, closing := c.conn, c.closing
	c.mu.Unlock()
	if cn == nil || closing {
		return false
	}
	return c.goIdle(ctx, cn)
}

// goIdle is GoIdle on connection cn.
func (c *Client) goIdle(ctx context.Context, cn *conn) bool {
	ch := make(chan struct{})
	if !cn.addIdleWaiter(ch) {
		return false
	}
	defer cn.dropIdleWaiter(ch)
	if err := cn.write(wire.TypeGoingIdle, wire.EncodeGoingIdle()); err != nil {
		c.log.Warn("relay going_idle write failed", "error", err)
		return false
	}
	t := time.NewTimer(c.cfg.GoingIdleTimeout)
	defer t.Stop()
	select {
	case <-ch:
		c.log.Info("relay connector switched this instance to buffered delivery (going_idle_ack)")
		return true
	case <-cn.readerDone:
		c.log.Warn("relay connection dropped while waiting for going_idle_ack")
	case <-t.C:
		c.log.Warn("relay no going_idle_ack in time", "timeout", c.cfg.GoingIdleTimeout)
	case <-ctx.Done():
		c.log.Warn("relay gave up waiting for going_idle_ack", "error", ctx.Err())
	}
	return false
}

// Close disconnects deliberately (docs/protocol.md, Disconnect drain): new
// outbound calls fail fast with "relay transport closed", in-flight outbound
// requests are waited for until ctx ends, then the socket is closed with 1000
// and whatever is still in flight fails with "relay send failed: relay
// transport closed" (ambiguous). Close then waits for Run to return. The
// drain is bounded by ctx; the closing handshake after it is bounded by
// CloseTimeout, so Close may outlast ctx by about that much, and returns
// ctx's error only if Run has still not returned then. It is idempotent; a
// client that was never Run is simply marked closed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	var drained chan struct{}
	n := c.inflight
	if n > 0 {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained = c.drained
	}
	c.mu.Unlock()
	if drained != nil {
		c.log.Info("relay closing: waiting for in-flight outbound requests", "in_flight", n)
		select {
		case <-drained:
		case <-ctx.Done():
			c.log.Warn("relay closing: drain budget spent; failing the remaining outbound requests")
		}
	}
	c.stopOnce.Do(func() { close(c.stopCh) })
	if !c.started.Load() {
		c.mu.Lock()
		marked := c.final == nil
		if marked {
			c.final = ErrClosed
		}
		c.mu.Unlock()
		if marked {
			c.changed.Notify()
		}
		return nil
	}
	// The drain is bounded by ctx; the closing handshake that follows is
	// bounded by CloseTimeout on its own, so a spent drain budget still gets
	// the socket closed before Close returns.
	grace := time.NewTimer(2*c.cfg.CloseTimeout + 100*time.Millisecond)
	defer grace.Stop()
	select {
	case <-c.runDone:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-c.runDone:
		return nil
	case <-grace.C:
		return fmt.Errorf("close relay client: %w", ctx.Err())
	}
}
