package relaytest

import (
	"sync"

	"github.com/relayhost/relay-host/internal/notify"
)

// recorder keeps everything the server received, in order, and notifies
// the waits of every change.
type recorder struct {
	mu           sync.Mutex
	dials        int
	authFailures int
	auths        []string
	frames       []Frame
	outbounds    []OutboundFrame
	acks         []string
	closes       []CloseInfo
	changed      notify.Signal
}

// record runs fn under the lock, then notifies the waits.
func (r *recorder) record(fn func()) {
	r.mu.Lock()
	fn()
	r.mu.Unlock()
	r.changed.Notify()
}

func (r *recorder) upgraded(authorized bool, authorization string) {
	r.record(func() {
		r.dials++
		if !authorized {
			r.authFailures++
		}
		r.auths = append(r.auths, authorization)
	})
}

// frame records a received frame; an inbound_ack's bufferId goes to the
// acks, and an outbound request to the outbounds, in the same step (the
// connector has trimmed its buffer already), so that a wait woken by the
// frame sees Acks, Pending and Outbounds updated.
func (r *recorder) frame(f Frame) {
	r.record(func() {
		r.frames = append(r.frames, f)
		switch f.Type {
		case "inbound_ack":
			r.acks = append(r.acks, f.BufferID)
		case "outbound":
			r.outbounds = append(r.outbounds, OutboundFrame{Conn: f.Conn, RequestID: f.RequestID,
				Platform: f.Platform, BotID: f.BotID, Action: f.Action})
		}
	})
}

func (r *recorder) ended(info CloseInfo) {
	r.record(func() { r.closes = append(r.closes, info) })
}

// Frames returns every frame received so far, in order.
func (s *Server) Frames() []Frame {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]Frame(nil), s.rec.frames...)
}

// Hellos returns the hello frames received so far.
func (s *Server) Hellos() []Frame {
	var out []Frame
	for _, f := range s.Frames() {
		if f.Type == "hello" {
			out = append(out, f)
		}
	}
	return out
}

// Acks returns the bufferIds of every inbound_ack received, in order,
// duplicates included.
func (s *Server) Acks() []string {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]string(nil), s.rec.acks...)
}

// Outbounds returns every outbound request received, in order.
func (s *Server) Outbounds() []OutboundFrame {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]OutboundFrame(nil), s.rec.outbounds...)
}

// Closes returns how each connection that the gateway closed (or that
// dropped) ended, in order. Connections the server closed itself are not
// listed.
func (s *Server) Closes() []CloseInfo {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]CloseInfo(nil), s.rec.closes...)
}

// Authorizations returns the Authorization header of every accepted
// upgrade, in order ("" when none was sent). It exists so tests can check
// that a fresh token is minted per dial; do not log it.
func (s *Server) Authorizations() []string {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]string(nil), s.rec.auths...)
}

// Dials returns the number of accepted upgrades at /relay.
func (s *Server) Dials() int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.dials
}

// AuthFailures returns the number of upgrades refused with 4401
// "unauthorized" because of a bad or missing bearer.
func (s *Server) AuthFailures() int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.authFailures
}
