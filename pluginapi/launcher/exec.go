package launcher

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// User is an account a plugin process runs as (LaunchConfig.User): the
// host must run as root to start a process under another uid.
type User struct {
	// Name is the account's name, for messages.
	Name string
	// UID and GID are its user id and primary group id.
	UID, GID uint32
	// Groups are its supplementary group ids; the host's own are dropped.
	Groups []uint32
}

// executable is a plugin executable opened for launch: the file whose
// permissions and hash were checked is the file that runs (see
// execOpened).
type executable struct {
	file *os.File
	// verify, when set, checks again that cmd still names the checked
	// file; it is called before and after the start (the portable
	// fallback, which runs the file by its path).
	verify func() error
}

// openExecutable opens the plugin executable, checks it (a regular file;
// with cfg.CheckPermissions not writable by group or others and owned by
// this user or root; with cfg.Checksum that SHA-256) and points cmd at the
// open file. The caller closes it once the process has started.
func openExecutable(cmd *exec.Cmd, cfg LaunchConfig) (*executable, error) {
	name := filepath.Base(cfg.Path)
	f, err := os.Open(cfg.Path) // O_RDONLY|O_CLOEXEC: no other child inherits it
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	exe := &executable{file: f}
	if err := exe.check(cfg); err != nil {
		f.Close()
		return nil, err
	}
	exe.verify = execOpened(cmd, f)
	if exe.verify != nil {
		if err := exe.verify(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return exe, nil
}

// check checks the open file's type, permissions and hash.
func (e *executable) check(cfg LaunchConfig) error {
	fi, err := e.file.Stat()
	if err != nil {
		return fmt.Errorf("plugin %s: %w", filepath.Base(cfg.Path), err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin %s: not a regular file", filepath.Base(cfg.Path))
	}
	if cfg.CheckPermissions {
		if err := CheckPermissions(KindPlugin, cfg.Path, fi); err != nil {
			return err
		}
	}
	if cfg.Checksum == nil {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, e.file); err != nil {
		return fmt.Errorf("plugin %s: hash: %w", filepath.Base(cfg.Path), err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, cfg.Checksum) {
		return &ChecksumError{Path: cfg.Path, Got: got, Want: cfg.Checksum}
	}
	return nil
}

// close releases the open file; the started process keeps its own image.
func (e *executable) close() { e.file.Close() }

// samePath is the portable fallback's check: cmd.Path still names the
// file that was checked. Between the check and the exec only someone who
// may write to the plugins directory could swap it, which the permission
// checks restrict to this user and root.
func samePath(cmd *exec.Cmd, f *os.File) func() error {
	return func() error {
		opened, err := f.Stat()
		if err != nil {
			return fmt.Errorf("plugin %s: %w", filepath.Base(cmd.Path), err)
		}
		now, err := os.Stat(cmd.Path)
		if err != nil || !os.SameFile(opened, now) {
			return fmt.Errorf("plugin %s was replaced while it was being started; not started", filepath.Base(cmd.Path))
		}
		return nil
	}
}
