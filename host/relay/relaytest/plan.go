package relaytest

import (
	"encoding/json"
	"sync"

	"github.com/relayhost/relay-host/host/internal/devconnector"
)

// Plan says how the server treats one connection. The zero Plan is a
// well-behaved connector.
type Plan struct {
	// CloseAtAccept closes the connection right after the upgrade, before
	// reading anything (a connector that accepts and immediately closes).
	CloseAtAccept bool
	// NoDescriptor never answers hellos (the client's handshake times out).
	NoDescriptor bool
	// MalformedDescriptor sends, before each descriptor, a descriptor frame
	// missing its required keys; with NoDescriptor it is the only one sent.
	MalformedDescriptor bool
	// CloseAfterDescriptor closes the connection right after the first
	// descriptor (and the buffered backlog) was sent.
	CloseAfterDescriptor bool
	// StallAfterDescriptor stops reading after the first descriptor: pings
	// go unanswered and outbound requests are never seen (a dead link).
	StallAfterDescriptor bool
	// CloseCode is the close code used by CloseAtAccept and
	// CloseAfterDescriptor; 0 means 1000.
	CloseCode int
	// CloseReason is the close reason sent with CloseCode.
	CloseReason string
}

// PlanNext queues plans for the next connections, one per accepted upgrade,
// in order; connections beyond the queue use Options.Plan. To treat the next
// n connections alike: PlanNext(slices.Repeat([]Plan{p}, n)...).
func (s *Server) PlanNext(plans ...Plan) { s.plan.queue(plans) }

// planner gives each connection its plan and carries the plans out through
// the dev connector's hooks.
type planner struct {
	def Plan

	mu     sync.Mutex
	queued []Plan
	byConn map[int]Plan
}

func (p *planner) init(def Plan) {
	p.def = def
	p.byConn = map[int]Plan{}
}

func (p *planner) queue(plans []Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queued = append(p.queued, plans...)
}

// assign gives connection conn the next queued plan, or the default.
func (p *planner) assign(conn int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	plan := p.def
	if len(p.queued) > 0 {
		plan, p.queued = p.queued[0], p.queued[1:]
	}
	p.byConn[conn] = plan
}

func (p *planner) of(conn int) Plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byConn[conn]
}

// hooks returns the dev connector hooks that carry the plans out.
func (p *planner) hooks(neverAckIdle bool) devconnector.Hooks {
	return devconnector.Hooks{
		Accept: func(conn int) (bool, int, string) {
			plan := p.of(conn)
			return plan.CloseAtAccept, plan.CloseCode, plan.CloseReason
		},
		Hello: func(conn int, platform string) ([][]byte, bool) {
			plan := p.of(conn)
			var before [][]byte
			if plan.MalformedDescriptor {
				before = append(before, malformedDescriptor(platform))
			}
			return before, !plan.NoDescriptor
		},
		AfterHandshake: func(conn int) devconnector.Next {
			plan := p.of(conn)
			switch {
			case plan.CloseAfterDescriptor:
				return devconnector.Next{Close: true, Code: plan.CloseCode, Reason: plan.CloseReason}
			case plan.StallAfterDescriptor:
				return devconnector.Next{Stall: true}
			}
			return devconnector.Next{}
		},
		AckIdle: func(int) bool { return !neverAckIdle },
	}
}

// malformedDescriptor is a descriptor frame line for platform that lacks
// the required keys.
func malformedDescriptor(platform string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "descriptor", "descriptor": map[string]any{"platform": platform}}) // strings only: cannot fail
	return append(b, '\n')
}
