package launcher

import (
	"os/exec"
	"syscall"
)

// prepareCommand makes the kernel kill the plugin if the host dies
// abruptly; pluginapi.Serve's parent watch covers the other systems.
func prepareCommand(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
