package devconnector

import (
	"fmt"

	"github.com/coder/websocket"

	"github.com/relayhost/relay-host/pluginapi"
)

// bufItem is one buffered delivery: its bufferId and its frame line.
type bufItem struct {
	id    string
	frame []byte
}

// Enqueue appends f to the durable buffer and returns its bufferId
// ("pbuf-<n>"). It is delivered (with bufferId) right away when a
// handshaked, non-idle connection exists, which pushed reports, and on
// every later handshake until an inbound_ack for it arrives.
func (s *Server) Enqueue(f pluginapi.Forward) (bufferID string, pushed bool) {
	s.mu.Lock()
	s.nextBuf++
	f.BufferID = fmt.Sprintf("pbuf-%d", s.nextBuf)
	s.buffer = append(s.buffer, bufItem{id: f.BufferID, frame: PassthroughFrame(f)})
	s.mu.Unlock()
	pushed = s.flushCurrent(f.BufferID)
	if !pushed {
		s.wakeIfIdle()
	}
	return f.BufferID, pushed
}

// EnqueueInbound is Enqueue for an inbound event (bufferId "buf-<n>"); ev
// is anything that encodes as the event object.
func (s *Server) EnqueueInbound(ev any) (bufferID string, pushed bool, err error) {
	s.mu.Lock()
	s.nextBuf++
	id := fmt.Sprintf("buf-%d", s.nextBuf)
	s.mu.Unlock()
	b, err := InboundFrame(ev, id)
	if err != nil {
		return "", false, fmt.Errorf("devconnector: %w", err)
	}
	s.mu.Lock()
	s.buffer = append(s.buffer, bufItem{id: id, frame: b})
	s.mu.Unlock()
	pushed = s.flushCurrent(id)
	if !pushed {
		s.wakeIfIdle()
	}
	return id, pushed, nil
}

// Pending returns the bufferIds still buffered (not acked), in order.
func (s *Server) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.buffer))
	for i, it := range s.buffer {
		ids[i] = it.id
	}
	return ids
}

// settle removes bufferID from the buffer: the gateway acked it. The
// connections forget they sent it, so that what the connector remembers
// stays bounded by what is still buffered.
func (s *Server) settle(bufferID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range s.buffer {
		if it.id == bufferID {
			s.buffer = append(s.buffer[:i:i], s.buffer[i+1:]...)
			for _, sc := range s.conns {
				delete(sc.sent, bufferID)
			}
			return
		}
	}
}

// bufferedLocked reports whether bufferID is still buffered (not acked).
// s.mu must be held.
func (s *Server) bufferedLocked(bufferID string) bool {
	for _, it := range s.buffer {
		if it.id == bufferID {
			return true
		}
	}
	return false
}

// flushCurrent flushes the buffer to the current connection and reports
// whether bufferID has gone out on it (by this flush or a concurrent one;
// one already acked, and so forgotten by settle, went out too).
func (s *Server) flushCurrent(bufferID string) bool {
	sc := s.current()
	if sc == nil {
		return false
	}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	s.flushLocked(sc)
	s.mu.Lock()
	defer s.mu.Unlock()
	return sc.sent[bufferID] || (sc.handshaked && !s.bufferedLocked(bufferID))
}

// flushLocked sends, in order, every buffered item not yet sent on sc; the
// caller holds sc.wmu.
func (s *Server) flushLocked(sc *sconn) {
	s.mu.Lock()
	if !sc.handshaked || sc.idle || !sc.live {
		s.mu.Unlock()
		return
	}
	var items []bufItem
	for _, it := range s.buffer {
		if !sc.sent[it.id] {
			sc.sent[it.id] = true
			items = append(items, it)
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if s.writeLocked(sc, websocket.MessageText, it.frame) != nil {
			return // still buffered: redelivered on the next connection
		}
	}
}
