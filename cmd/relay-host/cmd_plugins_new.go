package main

import "errors"

// pluginsNewCommand writes a new plugin module (scaffold.go).
func pluginsNewCommand(env *environment, args []string) error {
	_ = env
	_ = args
	return errors.New("plugins new: not yet")
}
