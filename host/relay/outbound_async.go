package relay

import (
	"time"

	"github.com/relayhost/relay-host/host/internal/wire"
)

// OutboundAsync sends one outbound action like Outbound, without waiting
// for its result: done is called exactly once with what Outbound would have
// returned (the same results and error texts, the same timeout), from the
// reader when the outbound_result arrives, from a timer, from the
// connection's teardown, or before OutboundAsync returns when the frame
// cannot be sent. done must not block: it may run on the reader.
//
// With a nil done the request is not tracked at all: the frame is sent and
// its outbound_result, if any, is ignored. That is for a caller that holds
// too many requests in flight already and would rather send blind than
// wait (a wait on a result needs the reader, which may be held back).
//
// A request waiting for its result costs a small record and a timer, no
// goroutine; that is its point. OutboundAsync returns once the frame is
// written (or failed), which may wait for the socket.
func (c *Client) OutboundAsync(action any, platform, botID string, done func(OutboundResult)) {
	if done == nil {
		done = func(OutboundResult) {}
		c.send(action, platform, botID, done, false)
		return
	}
	c.send(action, platform, botID, done, true)
}

// send is OutboundAsync; track says whether to wait for the result.
func (c *Client) send(action any, platform, botID string, done func(OutboundResult), track bool) {
	if platform != "" && botID == "" {
		botID = c.botIDFor(platform)
	}
	reqID := wire.NewRequestID()
	frame, err := wire.EncodeOutbound(reqID, action, platform, botID)
	if err != nil {
		done(OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()})
		return
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		done(OutboundResult{Error: ErrTextClosed})
		return
	}
	cn := c.conn
	if cn == nil {
		c.mu.Unlock()
		done(OutboundResult{Error: ErrTextNotConnected})
		return
	}
	if !track {
		c.mu.Unlock()
		if err := cn.write(wire.TypeOutbound, frame); err != nil {
			done(OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()})
		}
		return
	}
	// The timer may fire before the frame is written; it then waits
	// (armed) before settling the request.
	armed := make(chan struct{})
	timer := time.AfterFunc(c.cfg.OutboundTimeout, func() {
		<-armed
		if p, ok := cn.takePending(reqID); ok {
			c.log.Warn("relay outbound timed out; outcome unknown", "request_id", reqID, "timeout", c.cfg.OutboundTimeout)
			p.settle(OutboundResult{Error: ErrTextTimedOut, Ambiguous: true})
		}
	})
	finish := func(r OutboundResult) {
		timer.Stop()
		done(r)
		c.doneInflight()
	}
	if !cn.addPending(reqID, pendingOutbound{done: finish}) {
		c.mu.Unlock()
		timer.Stop()
		close(armed)
		done(OutboundResult{Error: ErrTextNotConnected})
		return
	}
	c.inflight++
	c.mu.Unlock()
	err = cn.write(wire.TypeOutbound, frame)
	close(armed)
	if err != nil {
		if p, ok := cn.takePending(reqID); ok {
			c.log.Debug("relay outbound write failed", "request_id", reqID, "error", err)
			p.settle(OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()})
		}
	}
}
