package hostproc

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary act as the process under test (see
// TestMain) instead of running the tests.
const helperEnv = "HOSTPROC_TEST_HELPER"

// testSecret is the secret the helper's environment carries.
const testSecret = "RELAY_SECRET_FOR_TEST=s3cr3t-value-0123456789"

// TestMain runs the helper when asked: it drops the secret, then, with
// "nondumpable", makes itself not dumpable, reports what it sees and waits
// for its standard input to close.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := DropEnv("RELAY_SECRET_FOR_TEST"); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if mode == "nondumpable" {
			if err := MakeNonDumpable(); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
		}
		dumpable, err := Dumpable()
		fmt.Printf("ready getenv=%q environ-has-secret=%v dumpable=%v err=%v\n",
			os.Getenv("RELAY_SECRET_FOR_TEST"), strings.Contains(strings.Join(os.Environ(), "\n"), "s3cr3t"), dumpable, err)
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper starts the test binary as the process under test and returns its
// pid and first line; it is stopped when the test ends.
func helper(t *testing.T, mode string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, testSecret)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		return cmd.Process.Pid, strings.TrimSpace(line)
	case <-time.After(30 * time.Second):
		t.Fatal("the helper did not report within 30 s")
	}
	return 0, ""
}

// TestDropEnvRemovesTheSecretEverywhere checks both copies: the process no
// longer sees the variable, and /proc/PID/environ, read from outside, no
// longer holds it.
func TestDropEnvRemovesTheSecretEverywhere(t *testing.T) {
	pid, line := helper(t, "drop")
	if line != `ready getenv="" environ-has-secret=false dumpable=true err=<nil>` {
		t.Fatalf("helper: %s", line)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(environ), "RELAY_SECRET_FOR_TEST") || strings.Contains(string(environ), "s3cr3t") {
		t.Fatalf("/proc/%d/environ still holds the secret", pid)
	}
	if !strings.Contains(string(environ), helperEnv+"=drop") {
		t.Fatalf("/proc/%d/environ lost the other variables", pid)
	}
}

// TestMakeNonDumpable checks that the process is not dumpable, and that
// its /proc files are root's: a process of the same user that is not root
// can no longer read its environment.
func TestMakeNonDumpable(t *testing.T) {
	pid, line := helper(t, "nondumpable")
	if line != `ready getenv="" environ-has-secret=false dumpable=false err=<nil>` {
		t.Fatalf("helper: %s", line)
	}
	path := fmt.Sprintf("/proc/%d/environ", pid)
	_, err := os.ReadFile(path)
	switch {
	case os.Geteuid() != 0 && !errors.Is(err, fs.ErrPermission):
		t.Fatalf("read %s as the same user: %v, want permission denied", path, err)
	case os.Geteuid() == 0 && err != nil:
		t.Fatalf("read %s as root: %v", path, err)
	}
}
