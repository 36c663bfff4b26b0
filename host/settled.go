package host

import "sync"

// settledCapacity is how many settled bufferIds are remembered for replay
// dedupe. The connector replays only the un-acked tail of one instance's
// buffer, so a replay of something settled long ago means the ack itself was
// lost; 65,536 ids (a few MiB) cover far more than any backlog between two
// connections.
const settledCapacity = 1 << 16

// bufferLedger tracks buffered deliveries: in flight (being processed) and
// settled (handed off or deliberately dropped, and acked). It forgets the
// oldest settled ids first.
type bufferLedger struct {
	mu       sync.Mutex
	inflight map[string]struct{}
	settled  map[string]struct{}
	order    []string // ring of settled ids, oldest at next
	next     int
}

func newBufferLedger() *bufferLedger {
	return &bufferLedger{inflight: map[string]struct{}{}, settled: map[string]struct{}{}}
}

// claimResult says what to do with a buffered delivery.
type claimResult int

const (
	claimed       claimResult = iota // process it
	alreadyDone                      // settled before: ack again, do not re-run
	alreadyActive                    // another copy is in flight: leave it to that copy
)

func (l *bufferLedger) claim(id string) claimResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.settled[id]; ok {
		return alreadyDone
	}
	if _, ok := l.inflight[id]; ok {
		return alreadyActive
	}
	l.inflight[id] = struct{}{}
	return claimed
}

// release ends processing; settle says whether it was settled.
func (l *bufferLedger) release(id string, settle bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.inflight, id)
	if !settle {
		return
	}
	if len(l.order) < settledCapacity {
		l.order = append(l.order, id)
	} else {
		delete(l.settled, l.order[l.next])
		l.order[l.next] = id
		l.next = (l.next + 1) % settledCapacity
	}
	l.settled[id] = struct{}{}
}
