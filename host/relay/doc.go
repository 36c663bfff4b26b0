// Package relay is relay-host's end of the relay link: the WebSocket
// transport that dials out to the connector and speaks the newline-delimited
// JSON frame protocol (docs/protocol.md).
//
// The package holds:
//
//   - pure helpers: [DialURL] (docs/protocol.md, Dial URL), the upgrade token
//     ([MakeToken], [MakeUpgradeToken], [VerifyToken]; docs/protocol.md,
//     Upgrade token) and the reconnect ladder ([BackoffDelay], [Jitter];
//     docs/protocol.md, Reconnect and backoff);
//   - the [Client]: dial with a fresh bearer, one hello per identity, the
//     reader, outbound request/response correlation, keepalive, 4401
//     handling, reconnect with backoff, going_idle and a draining Close.
//     config.go holds its configuration, client.go New, Run and the
//     connection state, outbound.go the calls the host makes (Outbound,
//     AckInbound, Interrupt, GoIdle, Close), conn.go one connection's
//     reader, keepalive and writer, dormancy.go scale to zero.
//
// # Dormancy (scale to zero)
//
// With Config.DormantAfter set, the Client takes the link dormant once it
// has been quiet that long: no delivery arriving (the Client marks each one
// as activity), no outbound request in flight, Config.Busy false (the host
// reports its deliveries in progress), no Touch. It sends going_idle and
// waits up to GoingIdleTimeout for the ack; a missed ack keeps the link up
// and the next attempt comes DormantAfter later. On the ack it lets work in
// progress finish, closes the socket with 1000 "going dormant", reports
// StateDormant, and dials again only on a wake: [Client.Wake] (the host's
// /wake, SIGUSR1, an agent API call), or an Outbound call, which wakes the
// link and waits for its handshake. A wake's dial does not advance the
// backoff ladder and comes at most DormantCadence (1 s) after the wake and
// at least that long after the previous dial, so wakes cost at most one
// dial a second. With Config.DormantExit, Run returns ErrDormant instead.
//
// The frame codec (line splitting, decoding every connector→gateway frame,
// encoding every gateway→connector frame) is host/internal/wire; the
// [Descriptor] and [OutboundResult] the Client hands out are its types,
// under the same names here.
//
// # Using the Client
//
// The host builds a Client with [New], runs [Client.Run] in its own goroutine
// and waits for [Client.WaitReady]. Handler methods are called from the read
// goroutine and must hand work off, waiting at most briefly for room
// (back-pressure; see Handler). A buffered
// delivery (a non-empty bufferId) is settled by the host calling
// [Client.AckInbound] once the work is durably handed off or deliberately
// dropped; the transport never acks a decodable delivery on its own.
//
// A clean shutdown is, in order:
//
//  1. [Client.GoIdle] with a short deadline (about 2 s): the connector flips
//     this instance to buffered-only delivery; the reader keeps serving, so
//     anything that lands in the flip window still arrives live.
//  2. Let in-flight work finish and ack what was handed off.
//  3. [Client.Close] with the remaining budget: it fails new outbound calls
//     fast, waits for in-flight outbound requests (bounded by its context),
//     closes the socket with 1000, fails what is left with
//     "relay send failed: relay transport closed" (ambiguous), and waits
//     for Run to return nil.
//
// Cancelling Run's context also stops the client, without the drain.
//
// # Where the protocol leaves room
//
// The main ones are also in docs/architecture.md, Protocol notes and
// deliberate choices.
//
//   - Run retries the first connect like any other (the reference raises
//     it to the caller); failures are logged and counted, never returned.
//   - A dropped connection fails in-flight outbound requests at once with
//     "relay transport connection lost" marked Ambiguous (the frame was
//     sent, so the connector may have applied it).
//   - A 4401 that is not "expired", seen on any connection after some
//     handshake succeeded, is a first strike and earns one immediate
//     fresh-token re-dial, also when it arrives before that connection's
//     descriptor; a second non-"expired" 4401 on the re-dial's connection
//     is a revocation (ErrRevoked).
//   - Buffered deliveries are acked only by the host (docs/protocol.md,
//     Acks), except a buffered frame that cannot be decoded, which the
//     reader acks so it cannot block the connector's ack-gated replay; its
//     bufferId is read even from a line over the frame limit, nested too
//     deep or not UTF-8.
//   - The decoder is strict where the reference reads a "string form": a
//     forward's platform, botId, method, path and profile, and a bufferId,
//     must be strings within limits, header entries pairs of strings, and a
//     frame valid UTF-8; otherwise the frame is rejected alone.
//   - Descriptors are kept only for announced platforms.
//   - [Client.OutboundAsync] sends without waiting: the result comes to a
//     callback, so a caller holding many requests in flight needs no
//     goroutine per request.
//   - The link socket's receive buffer is 1 MiB, so that little sits unread
//     in the kernel when the host holds the connector back.
//   - Inbound source platforms are kept when they look like a platform name
//     (lower-case token) and fall back to "relay" otherwise: relay-host is
//     platform-agnostic, so there is no fixed enum to check against.
//   - Event fields with no MessageEvent field of their own (reply_to.is_own,
//     context, user_id_alt, chat_id_alt, auto-thread markers) go to
//     MessageEvent.Metadata under their wire names; guild_id is read when
//     scope_id is absent (older connectors).
//   - A single frame is limited to [MaxFrameBytes] (4 MiB) and skipped when
//     longer; one WebSocket message is limited to 16 MiB, beyond which the
//     library closes the link (1009) and Run reconnects.
//
// # Speed
//
// The codec validates and cuts a frame in one pass and reads the fields
// with the same lenient decoders as its encoding/json slow path, which takes
// every frame whose reading is not plain; fuzz targets check that both paths
// always agree. Frames written while other writers wait are gathered into
// one syscall (host/internal/gather), each still its own WebSocket message,
// and a write that cannot complete within WriteTimeout drops the connection.
package relay
