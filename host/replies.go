package host

import "sync/atomic"

// replies counts the replies waiting for their outbound_result. A reply is
// written at once and its result awaited by a callback
// (relay.Client.OutboundAsync), not by a goroutine: the result comes
// through the reader, and the reader may be holding the connector back
// (admission.go) with the result behind the frames it has not read yet. A
// connector that queues its results behind everything it has pushed makes
// every reply wait for all of that, so thousands may wait at once; each
// costs a small record and a timer. Past MaxPendingReplies a reply is sent
// untracked (its result ignored) rather than made to wait: waiting would
// hold the delivery, and with it the reader, on a result only the reader
// can deliver.
type replies struct{ pending atomic.Int64 }

// track reserves a place for one more reply awaiting its result; false when
// MaxPendingReplies are waiting already.
func (r *replies) track() bool {
	if r.pending.Add(1) > MaxPendingReplies {
		r.pending.Add(-1)
		return false
	}
	return true
}

// done gives back a place taken by track.
func (r *replies) done() { r.pending.Add(-1) }
