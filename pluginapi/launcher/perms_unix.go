//go:build unix

package launcher

import (
	"io/fs"
	"os"
	"syscall"
)

// groupOtherWrite are the permission bits that let someone other than the
// owner write.
const groupOtherWrite = 0o022

// CheckPermissions refuses (*PermissionError) a plugins directory, plugin
// executable or pin file (kind: KindDirectory, KindPlugin, KindPinFile)
// that is writable by group or others, or owned by a user other than this
// process's effective user and root. info is path's FileInfo (os.Stat, or
// Stat of the open file).
func CheckPermissions(kind, path string, info fs.FileInfo) error {
	mode := info.Mode().Perm()
	if mode&groupOtherWrite != 0 {
		return &PermissionError{Kind: kind, Path: path, Mode: mode, Owner: -1, User: os.Geteuid()}
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() {
			return &PermissionError{Kind: kind, Path: path, Mode: mode, Owner: uid, User: os.Geteuid()}
		}
	}
	return nil
}
