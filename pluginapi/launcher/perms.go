package launcher

import (
	"fmt"
	"io/fs"
	"strings"
)

// What a PermissionError is about: the three things whose integrity the
// host relies on before it runs a plugin.
const (
	KindDirectory = "plugins directory"
	KindPlugin    = "plugin"
	KindPinFile   = "pin file"
)

// PermissionError says a plugins directory, plugin executable or pin file
// could be changed by someone other than the host's user and root, so
// checking it proves nothing: it is writable by group or others, or owned
// by another user. The host refuses it.
type PermissionError struct {
	// Kind is KindDirectory, KindPlugin or KindPinFile.
	Kind string
	// Path is the file or directory.
	Path string
	// Mode is its permission bits.
	Mode fs.FileMode
	// Owner is its owner's uid; -1 when ownership is not the problem.
	Owner int
	// User is the host's effective uid.
	User int
}

// Writable says who besides the owner may write it: "group", "others",
// "group and others", or "" when nobody may.
func (e *PermissionError) Writable() string {
	var who []string
	if e.Mode&0o020 != 0 {
		who = append(who, "group")
	}
	if e.Mode&0o002 != 0 {
		who = append(who, "others")
	}
	return strings.Join(who, " and ")
}

// Error states the facts.
func (e *PermissionError) Error() string {
	if w := e.Writable(); w != "" {
		return fmt.Sprintf("%s %s is writable by %s (mode %04o)", e.Kind, e.Path, w, uint32(e.Mode.Perm()))
	}
	return fmt.Sprintf("%s %s is owned by uid %d, not by this user (uid %d) or root", e.Kind, e.Path, e.Owner, e.User)
}
