package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfileAndTraceFromTheEnvironment: $RELAY_CPUPROFILE and $RELAY_TRACE
// each get a file once stopped; neither set starts nothing; a path that
// cannot be created is an error naming the variable.
func TestProfileAndTraceFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{envCPUProfile: filepath.Join(dir, "cpu.prof"), envTrace: filepath.Join(dir, "run.trace")}
	stop, err := startProfile(&environment{getenv: func(k string) string { return vars[k] }})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for name, path := range vars {
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("$%s: %v, %v; want a non-empty file", name, st, err)
		}
	}

	stop, err = startProfile(&environment{getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	stop()

	bad := map[string]string{envTrace: filepath.Join(dir, "missing", "run.trace")}
	if _, err := startProfile(&environment{getenv: func(k string) string { return bad[k] }}); err == nil || !strings.Contains(err.Error(), "$"+envTrace) {
		t.Fatalf("unwritable trace path: %v; want an error naming $%s", err, envTrace)
	}
}
