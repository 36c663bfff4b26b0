package relay

// Batch runs fn with the current connection's writes held: the frames fn
// writes, and those other writers write meanwhile, go out together in one
// write when fn returns, each still its own WebSocket message. The host
// settles a forward with two frames back to back (its inbound_ack, then
// the reply's outbound); batched, they cost the host one syscall instead
// of two, and the connector one read.
//
// fn must not wait for anything the connector sends (an outbound_result):
// the frames it wrote are not sent before it returns. A write error is
// handled as in any write: the connection is dropped, and the frames held
// are lost with it (an ack lost that way is redelivered and acked again).
func (c *Client) Batch(fn func()) {
	cn := c.current()
	if cn == nil || cn.nc == nil {
		fn()
		return
	}
	cn.waiting.Add(1) // writers see a writer queued and leave frames held
	defer cn.releaseBatch()
	fn()
}

// releaseBatch ends a Batch: unless another writer is queued (which then
// sends everything held), it sends what was held.
func (cn *conn) releaseBatch() {
	if cn.waiting.Add(-1) != 0 {
		return
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.waiting.Load() != 0 {
		return
	}
	if err := cn.nc.Release(); err != nil {
		_ = cn.ws.CloseNow()
	}
}
