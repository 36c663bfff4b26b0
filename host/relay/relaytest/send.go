package relaytest

import (
	"fmt"

	"github.com/relayhost/relay-host/host/internal/devconnector"
	"github.com/relayhost/relay-host/pluginapi"
)

// SendPassthrough pushes f live to the current connection (a bufferId is
// included only when f.BufferID is set; use Enqueue for durable delivery).
func (s *Server) SendPassthrough(f pluginapi.Forward) error {
	return s.conn.Send(PassthroughFrame(f), false)
}

// SendInbound pushes an inbound frame; ev is anything that encodes as the
// event object, and bufferID ("" for live) is sent when non-empty.
func (s *Server) SendInbound(ev any, bufferID string) error {
	b, err := devconnector.InboundFrame(ev, bufferID)
	if err != nil {
		return fmt.Errorf("relaytest: %w", err)
	}
	return s.conn.Send(b, false)
}

// SendInterruptInbound pushes an interrupt_inbound frame.
func (s *Server) SendInterruptInbound(sessionKey, chatID string) error {
	return s.conn.Send(devconnector.InterruptInboundFrame(sessionKey, chatID), false)
}

// SendRaw writes text as one WS text message, exactly as given (no newline
// is added), for framing and bad-input tests.
func (s *Server) SendRaw(text string) error {
	return s.conn.Send([]byte(text), false)
}

// SendBinary writes b as one WS binary message, exactly as given.
func (s *Server) SendBinary(b []byte) error {
	return s.conn.Send(b, true)
}

// CloseConn closes every live connection with code and reason.
func (s *Server) CloseConn(code int, reason string) error {
	return s.conn.CloseConns(code, reason)
}

// Enqueue appends f to the durable buffer and returns its bufferId
// ("pbuf-<n>"). It is delivered (with bufferId) right away when a
// handshaked, non-idle connection exists, and on every later handshake
// until an inbound_ack for it arrives.
func (s *Server) Enqueue(f pluginapi.Forward) string {
	id, _ := s.conn.Enqueue(f)
	return id
}

// EnqueueInbound is Enqueue for an inbound event (bufferId "buf-<n>").
func (s *Server) EnqueueInbound(ev any) (string, error) {
	id, _, err := s.conn.EnqueueInbound(ev)
	if err != nil {
		return "", fmt.Errorf("relaytest: %w", err)
	}
	return id, nil
}

// Pending returns the bufferIds still buffered (not acked), in order.
func (s *Server) Pending() []string { return s.conn.Pending() }
