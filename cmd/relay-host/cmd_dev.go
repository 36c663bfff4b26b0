package main

import (
	"context"
	"errors"
)

func devCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "dev", "dev [--demo]", "Run an embedded connector, the bundled plugins and the echo agent. Not implemented yet.")
	if err := fs.parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet in this build: use `relay-host convert` to exercise plugins")
}
