//go:build !unix

package launcher

import "io/fs"

// CheckPermissions checks nothing here: file modes and owners are Unix
// notions (on Windows, protect the plugins directory with its ACL).
func CheckPermissions(kind, path string, info fs.FileInfo) error { return nil }
