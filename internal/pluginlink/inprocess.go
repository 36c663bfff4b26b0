package pluginlink

import (
	"errors"
	"sync"

	"github.com/hashicorp/go-hclog"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
)

// ServerFunc builds the plugin end of an in-process link: the gRPC service
// serving impl (a pluginapi.Plugin) with every guarantee Serve gives, and a
// function that stops its workers once the gRPC server has stopped.
type ServerFunc func(impl any, logger hclog.Logger) (srv pluginv1.PluginServer, stop func(), err error)

// The plugin end's ServerFunc. Package pluginapi registers it from its
// init; it is written once, before any caller can read it, and only read
// afterwards. It lives here because the host end (which imports pluginapi)
// needs pluginapi's unexported gRPC server for in-process links, and
// pluginapi may not export it: its exported API is the plugin author's.
var (
	serverOnce sync.Once
	serverFunc ServerFunc
)

// RegisterServer records the plugin end's ServerFunc. Only package
// pluginapi calls it, once, from init; a second call panics.
func RegisterServer(f ServerFunc) {
	registered := false
	serverOnce.Do(func() { serverFunc, registered = f, true })
	if !registered {
		panic("pluginlink: RegisterServer called twice")
	}
}

// NewServer builds the plugin end of an in-process link for impl with the
// registered ServerFunc.
func NewServer(impl any, logger hclog.Logger) (pluginv1.PluginServer, func(), error) {
	if serverFunc == nil {
		return nil, nil, errors.New("pluginlink: no plugin server registered (package pluginapi is not linked in)")
	}
	return serverFunc(impl, logger)
}
