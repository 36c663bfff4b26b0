package scaffold

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the relay-host checkout the generated module is pointed at.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// goCmd runs the go command in dir, offline: every module the generated
// plugin needs is the SDK's own, already in the module cache.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// TestGeneratedModuleBuildsAndPasses writes a module, points it at this
// checkout (as a README line tells an author to for a local checkout) and
// runs its own tests: the table test and the real subprocess test.
func TestGeneratedModuleBuildsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and its plugin binary")
	}
	dir := filepath.Join(t.TempDir(), "relay-plugin-acme-chat")
	files, err := Write(dir, Params{Name: "acme-chat", Module: "example.com/acme/relay-plugin-acme-chat"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.mod", "main.go", "convert.go", "convert_test.go", "subprocess_test.go", "testdata/SOURCES.md", "testdata/message.json", "Makefile", "README.md"} {
		found := false
		for _, f := range files {
			found = found || f == want
		}
		if !found {
			t.Errorf("%s not written (wrote %v)", want, files)
		}
	}
	mk, _ := os.ReadFile(filepath.Join(dir, "Makefile"))
	if !strings.Contains(string(mk), "\tgo build -trimpath") {
		t.Errorf("Makefile does not build with -trimpath (or lost its tabs):\n%s", mk)
	}
	goCmd(t, dir, "mod", "edit", "-replace", SDKModule+"="+repoRoot(t))
	// Offline, `go mod tidy` would look up the test dependencies of the
	// SDK's dependencies; the SDK's own go.sum has every checksum the
	// build needs, and -mod=mod adds the requirements.
	sums, err := os.ReadFile(filepath.Join(repoRoot(t), "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, "vet", "./...")
	out := goCmd(t, dir, "test", "-count=1", "-v", "./...")
	for _, test := range []string{"--- PASS: TestConvert", "--- PASS: TestAsASubprocess"} {
		if !strings.Contains(out, test) {
			t.Errorf("generated tests did not run %s:\n%s", test, out)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	if _, err := Write(t.TempDir(), Params{Name: "Bad Name"}); err == nil {
		t.Error("a bad name was accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, Params{Name: "ok"}); !errors.Is(err, ErrExists) {
		t.Errorf("non-empty dir: %v", err)
	}
	gm := filepath.Join(t.TempDir(), "m")
	if _, err := Write(gm, Params{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(gm, "go.mod"))
	if !strings.Contains(string(b), "module example.com/relay-plugin-ok") || !strings.Contains(string(b), SDKModule+" v0.0.0") {
		t.Errorf("default go.mod:\n%s", b)
	}
}
