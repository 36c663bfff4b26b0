package plugins

import (
	"os"
	"path/filepath"

	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// CheckPermissions refuses a plugins directory, pin file or plugin
// executable that someone other than this user and root could change:
// writable by group or others, or owned by another user. A pin, or a hash
// checked at start, proves nothing about a file anyone may rewrite or
// replace. It returns one *launcher.PermissionError per refused path (a
// list when several), nil when all are safe; a pin file that does not
// exist is not checked. Open calls it; the launch checks each plugin again
// on the file it opens.
func CheckPermissions(dir string, cands []Candidate) error {
	var refused errorList
	check := func(kind, path string) {
		fi, err := os.Stat(path)
		if err != nil {
			return // a missing pin file; an unreadable path fails later, with its own error
		}
		if err := launcher.CheckPermissions(kind, path, fi); err != nil {
			refused = append(refused, err)
		}
	}
	check(launcher.KindDirectory, dir)
	check(launcher.KindPinFile, filepath.Join(dir, PinFileName))
	for _, c := range cands {
		check(launcher.KindPlugin, c.Path)
	}
	if len(refused) > 0 {
		return refused
	}
	return nil
}
