package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Errors of this package carry the facts; the command that prints them
// adds what to do (cmd/relay-host names its flags and commands there).
// Errors about one plugin start with "plugin <path>", about the directory
// with "plugins directory <dir>", about the pin file with its path.

// DirError says the plugins directory could not be read; errors.Is(err,
// fs.ErrNotExist) tells a missing directory.
type DirError struct {
	// Dir is the plugins directory.
	Dir string
	// Err is the error reading it.
	Err error
}

// Error states the facts.
func (e *DirError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("plugins directory %s does not exist", e.Dir)
	}
	return fmt.Sprintf("plugins directory %s: %v", e.Dir, e.Err)
}

// Unwrap returns the error reading the directory.
func (e *DirError) Unwrap() error { return e.Err }

// NoPluginsError says the plugins directory holds no plugin executable.
type NoPluginsError struct {
	// Dir is the plugins directory.
	Dir string
}

// Error states the facts.
func (e *NoPluginsError) Error() string {
	return fmt.Sprintf("no plugins in %s: plugins are executables named %s<name>", e.Dir, FilePrefix)
}

// PinError says a plugin was refused because pinning is on and its hash is
// not the pinned one: at start (Open) or when the supervisor restarts a
// plugin whose executable was replaced since.
type PinError struct {
	// Path is the plugin executable.
	Path string
	// Got is its lowercase hex SHA-256 ("" if it could not be read).
	Got string
	// Want is the pinned hash; "" when the pin file has no line for it.
	Want string
}

// Error states the facts.
func (e *PinError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("plugin %s is not listed in %s (its sha256 is %s)", e.Path, PinFileName, e.Got)
	}
	return fmt.Sprintf("plugin %s was refused: its sha256 is %s but %s pins %s", e.Path, e.Got, PinFileName, e.Want)
}

// PinFileError says a line of the pin file is not in sha256sum format.
type PinFileError struct {
	// Path is the pin file.
	Path string
	// Line is the 1-based line number.
	Line int
}

// Error states the facts.
func (e *PinFileError) Error() string {
	return fmt.Sprintf("%s line %d: want \"<sha256 hex>  <file name>\" (sha256sum format)", e.Path, e.Line)
}

// PlatformConflictError says two plugins claim one platform.
type PlatformConflictError struct {
	// Platform is the platform both claim.
	Platform string
	// Paths are the two plugin executables.
	Paths [2]string
	// Dir is the plugins directory.
	Dir string
}

// Error states the facts.
func (e *PlatformConflictError) Error() string {
	return fmt.Sprintf("plugins %s and %s both claim platform %q", e.Paths[0], e.Paths[1], e.Platform)
}

// errorList is several errors reported together, joined by "; ".
type errorList []error

// Error states the facts.
func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (l errorList) Unwrap() []error { return l }
