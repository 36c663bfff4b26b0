package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/relayhost/relay-host/pluginapi"
)

func versionCommand(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "version", "version", "Print relay-host's version, the plugin protocol it speaks and the Go version.")
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "relay-host %s (plugin protocol %d, %s)\n", version, pluginapi.ProtocolVersion, runtime.Version())
	return nil
}
