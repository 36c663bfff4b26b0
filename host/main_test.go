package host

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// delivery must end (settled, failed or cancelled by Stop).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
