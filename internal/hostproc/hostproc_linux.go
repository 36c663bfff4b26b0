package hostproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MakeNonDumpable marks the process not dumpable (prctl PR_SET_DUMPABLE 0):
// the kernel then makes its /proc/PID files (environ, mem, fd, maps, …)
// root's, so processes of the same user (a plugin) cannot read them or
// attach to it, and it writes no core dump. Root still can. Call DropEnv
// first: once not dumpable, a process that is not root cannot reach its own
// /proc/self/mem either.
func MakeNonDumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", errno)
	}
	return nil
}

// Dumpable reports whether the process is dumpable (prctl
// PR_GET_DUMPABLE).
func Dumpable() (bool, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_GET_DUMPABLE, 0, 0)
	if errno != 0 {
		return false, fmt.Errorf("prctl(PR_GET_DUMPABLE): %w", errno)
	}
	return r != 0, nil
}

// DropEnv removes name from the process's environment: from Go's copy
// (os.Unsetenv: os.Getenv and child processes no longer see it) and from
// the block the process started with, which the kernel serves as
// /proc/PID/environ for its whole life: each NAME=value entry there is
// overwritten with zero bytes, through /proc/self/mem.
func DropEnv(name string) error {
	if err := os.Unsetenv(name); err != nil {
		return fmt.Errorf("unset %s: %w", name, err)
	}
	start, end, err := envBlock()
	if err != nil {
		return fmt.Errorf("drop %s from the process environment: %w", name, err)
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("drop %s from the process environment: %w", name, err)
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, start); err != nil {
		return fmt.Errorf("drop %s from the process environment: read: %w", name, err)
	}
	prefix := []byte(name + "=")
	for off := 0; off < len(block); {
		n := bytes.IndexByte(block[off:], 0)
		if n < 0 {
			n = len(block) - off
		}
		if bytes.HasPrefix(block[off:off+n], prefix) {
			if _, err := mem.WriteAt(make([]byte, n), start+int64(off)); err != nil {
				return fmt.Errorf("drop %s from the process environment: write: %w", name, err)
			}
		}
		off += n + 1
	}
	return nil
}

// envBlock returns where the process's initial environment lies in its
// memory: fields 50 and 51 (env_start, env_end) of /proc/self/stat.
func envBlock() (start, end int64, err error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces, start with field 3.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	const envStart, envEnd = 50, 51
	if len(fields) < envEnd-2 {
		return 0, 0, errors.New("/proc/self/stat has no env_start and env_end")
	}
	start, err1 := strconv.ParseInt(fields[envStart-3], 10, 64)
	end, err2 := strconv.ParseInt(fields[envEnd-3], 10, 64)
	if err1 != nil || err2 != nil || end < start || start == 0 {
		return 0, 0, errors.New("/proc/self/stat: unreadable env_start and env_end")
	}
	return start, end, nil
}
