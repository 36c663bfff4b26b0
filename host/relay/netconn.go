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

// linkReadBuffer is the link socket's receive buffer. The kernel would
// otherwise grow it as far as net.ipv4.tcp_rmem allows (32 MiB on common
// distributions) while relay-host reads fast, and everything in it is
// frames the connector has sent and relay-host has not read: when the host
// holds the connector back (host/admission.go), an outbound_result a reply
// waits for may sit behind all of them. 1 MiB still carries about 10 MB/s
// over a 100 ms round trip, thousands of forwards a second.
const linkReadBuffer = 1 << 20

// linkDialer wraps dial so that each connection it makes is a gather.Conn
// whose writes are bounded by timeout, recorded in the dialSlot of the
// dial's context (if any), with a receive buffer of linkReadBuffer.
func linkDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(linkReadBuffer) // best effort: the default works, only deeper
		}
		gc := gather.New(nc, timeout)
		if slot, ok := ctx.Value(dialSlotKey{}).(*dialSlot); ok {
			slot.conn = gc
		}
		return gc, nil
	}
}
