package host

import "sync"

// Replay-dedupe ledger bounds. The connector replays only the un-acked tail
// of one instance's buffer, so a replay of something settled long ago means
// the ack itself was lost: the ledger need only remember what was settled
// since the last few connections.
const (
	// settledCapacity bounds the settled bufferIds remembered. An ack is
	// lost only with the connection it was written to, so what a replay
	// can repeat is what was settled just before a drop: at most the
	// deliveries in flight (MaxInFlight, 512) and the acks still in the
	// socket's buffers. 16,384 ids cover thirty times that; the ledger is
	// live heap the collector marks on every cycle, and at 65,536 ids it
	// was the largest thing the host kept (6 MiB).
	settledCapacity = 1 << 14
	// settledMaxBytes bounds the memory they take, counting each id's bytes
	// plus settledEntryOverhead: 2 MiB holds the full 16,384 typical ids
	// ("pbuf-123456") and still 6,500 ids of the longest bufferId the
	// decoder accepts (wire.MaxIDBytes).
	settledMaxBytes = 2 << 20
	// settledEntryOverhead is what one remembered id costs besides its
	// bytes: its map entry, its string header in the order ring.
	settledEntryOverhead = 64
)

// bufferLedger tracks buffered deliveries: in flight (being processed) and
// settled (handed off or deliberately dropped, and acked). It forgets the
// oldest settled ids first, once either bound is reached.
type bufferLedger struct {
	mu       sync.Mutex
	inflight map[string]struct{}
	settled  map[string]struct{}
	order    []string // settled ids, oldest first (order[head:])
	head     int
	bytes    int // settled ids' cost (see settledMaxBytes)
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
	if _, ok := l.settled[id]; ok {
		return
	}
	cost := len(id) + settledEntryOverhead
	for len(l.order)-l.head > 0 && (len(l.order)-l.head >= settledCapacity || l.bytes+cost > settledMaxBytes) {
		old := l.order[l.head]
		l.order[l.head] = ""
		l.head++
		delete(l.settled, old)
		l.bytes -= len(old) + settledEntryOverhead
	}
	if l.head > 0 && 2*l.head >= len(l.order) {
		l.order = append(l.order[:0], l.order[l.head:]...)
		l.head = 0
	}
	l.order = append(l.order, id)
	l.settled[id] = struct{}{}
	l.bytes += cost
}

// size returns the settled ids remembered and their cost in bytes.
func (l *bufferLedger) size() (ids, bytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.order) - l.head, l.bytes
}
