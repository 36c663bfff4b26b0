package pluginapi

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/protobuf/proto"
)

// Caps on one forward's result, enforced on both ends of the link: the SDK
// rejects an over-cap result before it leaves the plugin, and the host
// rejects one that arrives anyway (from a plugin built without these caps).
// Either way the forward is Rejected with a reason saying which cap it hit,
// the host settles it like any rejection, and the plugin keeps serving.
const (
	// MaxResultEvents is the most events one result may carry. Each event
	// is one agent turn; one platform request carries one message, or a
	// small batch of them (a webhook delivering a few updates at once), so
	// 100 is far above any legitimate conversion while keeping one forward
	// from flooding the agent (a result of 200,000 events was 200,000 agent
	// turns).
	MaxResultEvents = 100
	// MaxResultBytes is the largest encoded result. A body is at most
	// MaxBodyBytes, so eight times that leaves room for its text copied
	// into several events with metadata; it is half the gRPC message limit
	// (MaxMessageBytes), so a result under it always travels, and one over
	// it is refused before it can break the stream.
	MaxResultBytes = MaxMessageBytes / 2
)

// capEvents rejects a result with more than MaxResultEvents events before
// any of them is encoded.
func capEvents(res Result, logger hclog.Logger) Result {
	if len(res.Events) <= MaxResultEvents {
		return res
	}
	reason := fmt.Sprintf("result has %d events, over the %d-event limit (pluginapi.MaxResultEvents)", len(res.Events), MaxResultEvents)
	logger.Warn("plugin returned too many events; rejecting the forward", "events", len(res.Events), "limit", MaxResultEvents)
	return Reject(reason)
}

// capBytes replaces an encoded result over MaxResultBytes with a rejection
// carrying the same id. (capEvents has already capped the events, before
// they were encoded.)
func capBytes(w *pluginv1.ForwardResponse, logger hclog.Logger) *pluginv1.ForwardResponse {
	n := proto.Size(w)
	if n <= MaxResultBytes {
		return w
	}
	reason := fmt.Sprintf("result is %d bytes encoded, over the %d-byte limit (pluginapi.MaxResultBytes)", n, MaxResultBytes)
	logger.Warn("plugin returned a result over the size limit; rejecting the forward", "bytes", n, "limit", MaxResultBytes)
	return &pluginv1.ForwardResponse{Id: w.GetId(), Disposition: pluginv1.Disposition_DISPOSITION_REJECTED, Reason: reason}
}
