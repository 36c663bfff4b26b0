//go:build !linux

package hostproc

import (
	"fmt"
	"os"
)

// MakeNonDumpable does nothing here: only Linux has PR_SET_DUMPABLE.
func MakeNonDumpable() error { return nil }

// Dumpable reports true: the process is not made non-dumpable here.
func Dumpable() (bool, error) { return true, nil }

// DropEnv removes name from Go's copy of the environment (os.Unsetenv);
// the block the process started with is left as it is.
func DropEnv(name string) error {
	if err := os.Unsetenv(name); err != nil {
		return fmt.Errorf("unset %s: %w", name, err)
	}
	return nil
}
