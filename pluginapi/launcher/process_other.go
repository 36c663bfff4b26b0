//go:build !linux

package launcher

import "os/exec"

// prepareCommand does nothing here: only Linux can tie a child's life to
// its parent's (Pdeathsig). pluginapi.Serve's parent watch makes a plugin
// exit within a quarter of a second of its host's death everywhere.
func prepareCommand(*exec.Cmd) {}
