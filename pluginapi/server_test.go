package pluginapi

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/internal/pluginlink"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

// recordingStream is the plugin's end of a HandleBatches stream that
// records the size of every batch sent.
type recordingStream struct {
	grpc.ServerStream // unused; nil
	sizes             []int
}

func (r *recordingStream) Send(b *pluginv1.ForwardResponseBatch) error {
	r.sizes = append(r.sizes, len(b.GetResponses()))
	return nil
}

func (r *recordingStream) Recv() (*pluginv1.ForwardBatch, error) { panic("not used") }

// TestResultsLeaveInBatches checks that results already waiting leave
// together, split by count and by size.
func TestResultsLeaveInBatches(t *testing.T) {
	s := newGRPCServer(echoless{}, hclog.NewNullLogger())
	defer s.close()
	big := strings.Repeat("x", pluginlink.MaxBatchBytes*3/4)
	tests := []struct {
		name    string
		results []*pluginv1.ForwardResponse
		want    []int
	}{
		{"waiting results share a batch, up to the count limit", responses(pluginlink.MaxBatchForwards+6, ""), []int{pluginlink.MaxBatchForwards, 6}},
		{"a batch stops at the byte limit", responses(3, big), []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := make(chan *pluginv1.ForwardResponse, len(tt.results))
			for _, r := range tt.results {
				results <- r
			}
			close(results)
			var stream recordingStream
			s.sendResults(&stream, results)
			if !slices.Equal(stream.sizes, tt.want) {
				t.Errorf("batches of %v, want %v", stream.sizes, tt.want)
			}
		})
	}
}

func responses(n int, reason string) []*pluginv1.ForwardResponse {
	out := make([]*pluginv1.ForwardResponse, n)
	for i := range out {
		out[i] = &pluginv1.ForwardResponse{Id: uint64(i + 1), Disposition: pluginv1.Disposition_DISPOSITION_DROPPED, Reason: reason}
	}
	return out
}

// echoless is a plugin that is never called.
type echoless struct{}

func (echoless) Info() Info { return Info{Name: "none"} }

func (echoless) HandleForward(context.Context, Forward) Result { return Drop("") }
