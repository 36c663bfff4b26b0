package relay

// HeldBytes is, for tests, the bytes written to the current connection and
// held for a later write (Batch), 0 without a connection.
func HeldBytes(c *Client) int {
	cn := c.current()
	if cn == nil || cn.nc == nil {
		return 0
	}
	return cn.nc.Held()
}
