package launcher

import (
	"os/exec"
	"syscall"
)

// prepareCommand makes the kernel kill the plugin if the host dies
// abruptly (pluginapi.Serve's parent watch covers the other systems), and
// starts it in a process group of its own, which Process.Kill kills whole:
// nothing the plugin started outlives it.
func prepareCommand(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
