package relaytest

import "context"

// WaitOutbound returns the first outbound request recorded at or after
// index from (in the order of Outbounds) for which match holds, and its
// index, waiting for new ones until ctx ends. match must not call the
// Server.
func (s *Server) WaitOutbound(ctx context.Context, from int, match func(OutboundFrame) bool) (OutboundFrame, int, error) {
	var found OutboundFrame
	idx := -1
	err := s.wait(ctx, "outbound request", func() bool {
		for i := max(from, 0); i < len(s.rec.outbounds); i++ {
			if match(s.rec.outbounds[i]) {
				found, idx = s.rec.outbounds[i], i
				return true
			}
		}
		return false
	})
	return found, idx, err
}
