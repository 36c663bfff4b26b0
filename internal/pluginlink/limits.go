package pluginlink

// CapabilityForwardBatches is the capability of a plugin that serves
// HandleBatches. pluginapi.Serve advertises it for every plugin; the host
// then sends forwards in batches instead of one message each.
const CapabilityForwardBatches = "forward-batches"

// Batching of the forward stream (HandleBatches), on both ends.
const (
	// MaxBatchForwards caps the forwards (or results) in one batch message.
	// A batch holds whatever queued up while the previous one was being
	// sent; by a few dozen the per-message cost is amortised to almost
	// nothing, and a bounded batch lets the plugin start on the first
	// forwards sooner.
	MaxBatchForwards = 64
	// MaxBatchBytes caps a batch's estimated encoded size. A forward or
	// result larger than this still travels, alone. A quarter of the 16 MiB
	// gRPC message limit (pluginapi.MaxMessageBytes; a launcher test checks
	// the ratio) leaves ample room for what the estimate misses.
	MaxBatchBytes = 4 << 20
	// BatchTargetBytes is where a batching sender stops adding to a batch
	// (a forward or result larger than it still travels, alone). gRPC
	// encodes and decodes a message into a buffer from its pool's tiers,
	// 32 KiB then 1 MiB, and clears a pooled buffer's whole capacity
	// before use: a batch just over 32 KiB cost a 1 MiB buffer, its
	// clearing and, after each collection, its allocation, on both ends.
	// Sixteen typical forwards fit in 32 KiB, which keeps the
	// per-message cost amortised.
	BatchTargetBytes = 32 << 10
	// WindowBytes is the plugin link's HTTP/2 flow-control window, per
	// stream and per connection, on both ends. A fixed window turns off
	// gRPC's bandwidth-delay estimation, which answered received data with
	// PING frames (and their acks): on a loopback link between two
	// processes they were extra writes, reads and wake-ups per batch.
	// 1 MiB holds dozens of batches in flight.
	WindowBytes = 1 << 20
	// BatchQueue is the depth of the queues feeding each batching sender:
	// the host's default dispatch window (plugins.DefaultMaxInFlight), so
	// callers rarely wait for room while a batch is on its way.
	BatchQueue = 256
)

// Capabilities added with SDK 1.0. pluginapi.Serve advertises each one the
// plugin implements (configure, egress) or the SDK answers for it (health,
// shutdown); the host calls an RPC only when its capability is listed, so a
// plugin built before them keeps working unchanged.
const (
	// CapabilityConfigure: the plugin serves Configure.
	CapabilityConfigure = "configure"
	// CapabilityEgress: the plugin serves HandleAction for its platforms.
	CapabilityEgress = "egress"
	// CapabilityHealth: the plugin serves CheckHealth.
	CapabilityHealth = "health"
	// CapabilityShutdown: the plugin serves Shutdown.
	CapabilityShutdown = "shutdown"
)

// Capabilities of the host, listed in InfoRequest.host_capabilities.
const (
	// HostCapabilityMetadataJSON: the host reads an event's metadata from
	// MessageEvent.metadata_json; the SDK then sends it there, as JSON,
	// instead of as a google.protobuf.Struct.
	HostCapabilityMetadataJSON = "metadata-json"
)
