package agentapi

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind (a
// lifecycle signal, a media transfer, a server).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
