package relay

import (
	"context"
	"net"
	"time"

	"github.com/relayhost/relay-host/host/internal/gather"
)

// dialSlot receives the gathering connection of one dial: the dial context
// carries it to the transport's DialContext, and the link writes through it
// (see conn.writeLocked).
type dialSlot struct{ conn *gather.Conn }

type dialSlotKey struct{}

// linkDialer wraps dial so that each connection it makes is a gather.Conn
// whose writes are bounded by timeout, recorded in the dialSlot of the
// dial's context (if any).
func linkDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		gc := gather.New(nc, timeout)
		if slot, ok := ctx.Value(dialSlotKey{}).(*dialSlot); ok {
			slot.conn = gc
		}
		return gc, nil
	}
}
