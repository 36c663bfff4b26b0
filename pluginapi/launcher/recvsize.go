package launcher

import (
	"sync/atomic"

	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// sizedCodec is gRPC's proto codec that also records the encoded size of
// the message it decoded last. A Remote's forward stream uses its own, so
// that its one receiving goroutine can read, after each Recv, how large
// the message was: a batch no larger than pluginapi.MaxResultBytes cannot
// hold a result over that cap, and its results skip the per-result size
// check (a proto.Size walk of every event, a few percent of the host's CPU
// per forward under load).
type sizedCodec struct {
	encoding.CodecV2
	last atomic.Int64
}

func newSizedCodec() *sizedCodec {
	return &sizedCodec{CodecV2: encoding.GetCodecV2(protoenc.Name)}
}

// Unmarshal implements encoding.CodecV2.
func (c *sizedCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.last.Store(int64(data.Len()))
	return c.CodecV2.Unmarshal(data, v)
}

// lastSize is the encoded size of the message decoded last.
func (c *sizedCodec) lastSize() int { return int(c.last.Load()) }
