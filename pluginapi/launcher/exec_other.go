//go:build !linux

package launcher

import (
	"errors"
	"os"
	"os/exec"
)

// execOpened is the portable fallback: cmd runs the plugin by its path,
// after checking (now, and again once it started) that the path still
// names the open file whose hash was checked. Only Linux can exec an open
// file (/proc/self/fd).
func execOpened(cmd *exec.Cmd, f *os.File) func() error { return samePath(cmd, f) }

// setUser refuses another user: starting plugins under another uid is only
// supported on Linux.
func setUser(_ *exec.Cmd, u *User) error {
	if u == nil {
		return nil
	}
	return errors.New("running plugins as another user is supported on Linux only")
}

// killGroup does nothing: plugins get their own process group only on
// Linux.
func killGroup(int) error { return nil }
