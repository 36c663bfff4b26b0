package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// procSelfFD is where Linux shows a process's open files as paths: exec of
// /proc/self/fd/N runs the open file N itself, whatever its name points to
// by then.
const procSelfFD = "/proc/self/fd"

// execOpened points cmd at the open executable f: the child execs
// /proc/self/fd/N, which in the child is the same open file (fork copies
// the descriptor table; O_CLOEXEC closes it only once the exec succeeded).
// So the file whose hash was checked is the file that runs, even if
// another file is renamed over the plugin's path in between. cmd.Args[0]
// keeps the real path (the plugin's command line and /proc/PID/exe show
// it; the kernel's short process name becomes the descriptor number). It
// returns nil, or the portable fallback's check when /proc is not mounted.
func execOpened(cmd *exec.Cmd, f *os.File) func() error {
	if st, err := os.Stat(procSelfFD); err != nil || !st.IsDir() {
		return samePath(cmd, f)
	}
	cmd.Path = procSelfFD + "/" + strconv.Itoa(int(f.Fd()))
	return nil
}

// setUser makes cmd run as u (nil: the host's own user).
func setUser(cmd *exec.Cmd, u *User) error {
	if u == nil {
		return nil
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: append([]uint32{}, u.Groups...)}
	return nil
}

// killGroup kills what is left of the process group pgid, the plugin's own
// (prepareCommand puts each plugin in one): whatever the plugin started and
// left behind. The plugin itself is gone by then. Its group id cannot be
// reused while any member lives, so this reaches only the plugin's
// descendants.
func killGroup(pgid int) error {
	if pgid <= 0 {
		return nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	return nil
}
