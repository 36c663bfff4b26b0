package host

import "sync/atomic"

// activity counts the deliveries in progress: from the moment the link
// hands one over until it is settled and its replies are sent.
type activity struct{ n atomic.Int64 }

func (a *activity) begin() { a.n.Add(1) }
func (a *activity) end()   { a.n.Add(-1) }

// Busy reports whether a delivery is in progress (being converted, handed
// to the agent, acknowledged or replied to). The link takes it as
// relay.Config.Busy, so that it never goes dormant with work in flight.
func (h *Host) Busy() bool { return h.active.n.Load() > 0 }
