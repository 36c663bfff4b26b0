//go:build !unix

package jetstream

import (
	"errors"
	"io/fs"
	"os"
)

// lockDir on systems without flock: an exclusive create of path, removed on
// release. A crashed relay-host leaves the file behind; delete it by hand.
func lockDir(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, errDirLocked
	}
	if err != nil {
		return nil, err
	}
	return func() {
		f.Close()
		os.Remove(path)
	}, nil
}
