package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FilePrefix is the name prefix of plugin executables: relay-plugin-<name>.
const FilePrefix = "relay-plugin-"

// Candidate is a plugin executable found in the plugins directory.
type Candidate struct {
	// Name is the part of the file name after FilePrefix.
	Name string
	// Path is the executable's path.
	Path string
	// SHA256 is the lowercase hex SHA-256 of the executable.
	SHA256 string
}

// FileName is the candidate's file name.
func (c Candidate) FileName() string { return filepath.Base(c.Path) }

// Skipped is a directory entry that looked like it might be a plugin but is
// not used, with the reason.
type Skipped struct {
	// Path is the entry's path.
	Path string
	// Reason says why it is not used.
	Reason string
}

// Discover lists the plugin executables in dir: regular, executable files
// named relay-plugin-<name>. Symlinks, non-executables and directories with
// that prefix are skipped with a reason; the pin file, configuration files
// (<name>.json) and hidden files are skipped silently, other names with a
// reason. A directory
// that cannot be read is a *DirError.
func Discover(dir string) ([]Candidate, []Skipped, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, &DirError{Dir: dir, Err: err}
	}
	var found []Candidate
	var skipped []Skipped
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if !strings.HasPrefix(e.Name(), FilePrefix) {
			if e.Name() != PinFileName && !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ConfigFileSuffix) {
				skipped = append(skipped, Skipped{path, "name does not start with " + FilePrefix})
			}
			continue
		}
		name := strings.TrimPrefix(e.Name(), FilePrefix)
		switch {
		case name == "":
			skipped = append(skipped, Skipped{path, "no plugin name after " + FilePrefix})
			continue
		case e.Type()&fs.ModeSymlink != 0:
			skipped = append(skipped, Skipped{path, "symlinks are not followed: copy the plugin binary into the directory"})
			continue
		case !e.Type().IsRegular():
			skipped = append(skipped, Skipped{path, "not a regular file"})
			continue
		}
		st, err := e.Info()
		if err != nil {
			skipped = append(skipped, Skipped{path, err.Error()})
			continue
		}
		if st.Mode().Perm()&0o111 == 0 {
			skipped = append(skipped, Skipped{path, "not executable: chmod +x it"})
			continue
		}
		sum, err := FileSHA256(path)
		if err != nil {
			skipped = append(skipped, Skipped{path, err.Error()})
			continue
		}
		found = append(found, Candidate{Name: name, Path: path, SHA256: sum})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found, skipped, nil
}

// FileSHA256 returns the lowercase hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
