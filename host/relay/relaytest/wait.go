package relaytest

import (
	"context"
	"fmt"
	"slices"
)

// wait blocks until cond (called under the recorder's lock) holds or ctx
// ends; ctx must carry a deadline.
func (s *Server) wait(ctx context.Context, what string, cond func() bool) error {
	err := s.rec.changed.Wait(ctx, func() bool {
		s.rec.mu.Lock()
		defer s.rec.mu.Unlock()
		return cond()
	})
	if err != nil {
		return fmt.Errorf("relaytest: wait for %s: %w", what, err)
	}
	return nil
}

// WaitFrame returns the first recorded frame (earliest first, including
// those already received) for which match is true, waiting for new frames
// until ctx ends. match must not call the Server.
func (s *Server) WaitFrame(ctx context.Context, match func(Frame) bool) (Frame, error) {
	var found Frame
	seen := 0
	err := s.wait(ctx, "frame", func() bool {
		for ; seen < len(s.rec.frames); seen++ {
			if match(s.rec.frames[seen]) {
				found = s.rec.frames[seen]
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitConns waits until at least n upgrades have been accepted.
func (s *Server) WaitConns(ctx context.Context, n int) error {
	return s.wait(ctx, fmt.Sprintf("%d connections", n), func() bool { return s.rec.dials >= n })
}

// WaitAcked waits until an inbound_ack for bufferID has arrived.
func (s *Server) WaitAcked(ctx context.Context, bufferID string) error {
	return s.wait(ctx, "ack of "+bufferID, func() bool { return slices.Contains(s.rec.acks, bufferID) })
}

// WaitOutbounds waits until at least n outbound requests have arrived.
func (s *Server) WaitOutbounds(ctx context.Context, n int) error {
	return s.wait(ctx, fmt.Sprintf("%d outbound requests", n), func() bool { return len(s.rec.outbounds) >= n })
}

// WaitClosed waits until connection conn has ended and returns how.
func (s *Server) WaitClosed(ctx context.Context, conn int) (CloseInfo, error) {
	var info CloseInfo
	err := s.wait(ctx, fmt.Sprintf("close of connection %d", conn), func() bool {
		for _, c := range s.rec.closes {
			if c.Conn == conn {
				info = c
				return true
			}
		}
		return false
	})
	return info, err
}

// WaitHandshake waits until connection number conn has sent its first
// descriptor.
func (s *Server) WaitHandshake(ctx context.Context, conn int) error {
	if err := s.conn.WaitHandshake(ctx, conn); err != nil {
		return fmt.Errorf("relaytest: %w", err)
	}
	return nil
}
