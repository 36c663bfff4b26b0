package main

import (
	"context"
	"errors"
)

func runCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "run", "run --connector URL --gateway-id ID --secret-file PATH --identity PLATFORM:BOT_ID …", "Connect to a connector and serve forwards. Not implemented yet.")
	if err := fs.parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet in this build: use `relay-host convert` to exercise plugins")
}

func devCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "dev", "dev [--demo]", "Run an embedded connector, the bundled plugins and the echo agent. Not implemented yet.")
	if err := fs.parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet in this build: use `relay-host convert` to exercise plugins")
}
