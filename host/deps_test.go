package host

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestRuntimeDoesNotDependOnPlugins keeps package host (and everything it
// imports) free of package plugins: the host sees plugins only through the
// Dispatcher interface and ErrNoPlugin, so that another dispatcher (a test's,
// an in-process one) never drags the plugin supervisor in.
func TestRuntimeDoesNotDependOnPlugins(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/host/plugins") || strings.Contains(pkg, "/host/plugins/") {
			t.Errorf("package host depends on %s", pkg)
		}
	}
}
