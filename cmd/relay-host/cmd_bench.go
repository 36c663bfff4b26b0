package main

import (
	"context"
	"errors"
)

func benchCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "bench [flags]", "Measure throughput, latency and memory of a real `relay-host run` against a local connector. Not implemented yet.")
	if err := fs.parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet in this build")
}
