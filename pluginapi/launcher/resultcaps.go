package launcher

import (
	"fmt"

	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/protobuf/proto"
)

// checkResultCaps says which result cap (pluginapi.MaxResultEvents,
// pluginapi.MaxResultBytes) a plugin's response exceeds, "" when it is
// within both. The SDK already refuses to send such a result; this catches
// one from a plugin built without the caps, which is rejected alone, the
// stream and the plugin untouched. The reason states counts and limits,
// never content. measure says whether to measure the encoded size; a
// caller that knows the message it came in was within the cap passes false.
func checkResultCaps(w *pluginv1.ForwardResponse, measure bool) string {
	if n := len(w.GetEvents()); n > pluginapi.MaxResultEvents {
		return fmt.Sprintf("plugin returned %d events, over the %d-event limit (pluginapi.MaxResultEvents)", n, pluginapi.MaxResultEvents)
	}
	if !measure {
		return ""
	}
	if n := proto.Size(w); n > pluginapi.MaxResultBytes {
		return fmt.Sprintf("plugin returned a %d-byte result, over the %d-byte limit (pluginapi.MaxResultBytes)", n, pluginapi.MaxResultBytes)
	}
	return ""
}
