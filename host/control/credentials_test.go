package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// childReadEnv makes the test binary, started by
// TestReadCredentialsUnreadable as another user, read the credentials file
// it names and print the error.
const childReadEnv = "CONTROL_TEST_READ_CREDENTIALS"

func TestMain(m *testing.M) {
	if path := os.Getenv(childReadEnv); path != "" {
		_, err := ReadCredentials(path)
		fmt.Printf("%v|%v", errors.Is(err, fs.ErrPermission), err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func sampleCredentials() Credentials {
	return Credentials{Connector: "https://connector.example", GatewayID: "gw-1", Secret: testSecret, DeliveryKey: "dk-1", Tenant: "tenant-a"}
}

// dirNames lists a directory, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func TestWriteCredentialsFormModeAndNoLeftovers(t *testing.T) {
	for _, tt := range []struct {
		name     string
		wakeURL  string
		wantKeys []string
	}{
		{"without a wake URL", "", []string{"connector", "delivery_key", "gateway_id", "secret", "tenant"}},
		{"with a wake URL", "https://gw.example/wake", []string{"connector", "delivery_key", "gateway_id", "secret", "tenant", "wake_url"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "relay-credentials.json")
			c := sampleCredentials()
			c.WakeURL = tt.wakeURL
			c.Tenant = "a&b<c>"
			if err := WriteCredentials(path, c, false); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %04o, want 0600", st.Mode().Perm())
			}
			if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"relay-credentials.json"}) {
				t.Errorf("directory holds %v, want only the credentials file", names)
			}
			data, _ := os.ReadFile(path)
			if !bytes.Contains(data, []byte(`"a&b<c>"`)) {
				t.Errorf("the file escapes HTML characters: %s", data)
			}
			var m map[string]string
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("%s: %v", data, err)
			}
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("keys %v, want %v", keys, tt.wantKeys)
			}
			if m["gateway_id"] != "gw-1" || m["secret"] != testSecret || m["delivery_key"] != "dk-1" || m["tenant"] != "a&b<c>" || m["connector"] != "https://connector.example" {
				t.Errorf("content %v", m)
			}
			got, err := ReadCredentials(path)
			if err != nil || got != c {
				t.Errorf("read back %v, %v; want %v", got, err, c)
			}
		})
	}
}

func TestWriteCredentialsRefusesAnExistingFileUnlessForced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "creds.json")
	writeFile(t, path, "old", 0o644)
	err := WriteCredentials(path, sampleCredentials(), false)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v does not name %s", err, path)
	}
	if data, _ := os.ReadFile(path); string(data) != "old" {
		t.Errorf("the existing file was changed to %q", data)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"creds.json"}) {
		t.Errorf("directory holds %v after a refusal", names)
	}
	if err := WriteCredentials(path, sampleCredentials(), true); err != nil {
		t.Fatalf("force: %v", err)
	}
	st, _ := os.Stat(path)
	if got, err := ReadCredentials(path); err != nil || got.Secret != testSecret || st.Mode().Perm() != 0o600 {
		t.Errorf("after force: %v, %v, mode %04o", got, err, st.Mode().Perm())
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"creds.json"}) {
		t.Errorf("directory holds %v after a forced write", names)
	}
}

func TestWriteCredentialsFailuresLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCredentials(filepath.Join(dir, "missing-dir", "c.json"), sampleCredentials(), false); err == nil || strings.Contains(err.Error(), testSecret) {
		t.Errorf("write into a missing directory: %v", err)
	}
	incomplete := sampleCredentials()
	incomplete.Secret = ""
	if err := WriteCredentials(filepath.Join(dir, "c.json"), incomplete, false); !errors.Is(err, ErrIncomplete) {
		t.Errorf("write without a secret: %v", err)
	}
	// A directory in the way: the rename fails after the temporary file
	// was written, and the temporary file is removed.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "child"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteCredentials(blocked, sampleCredentials(), true); err == nil {
		t.Errorf("write over a non-empty directory succeeded")
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"blocked"}) {
		t.Errorf("directory holds %v after failed writes", names)
	}
}

func TestCheckCredentialsPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	if err := CheckCredentialsPath(path, false); err != nil {
		t.Errorf("fresh path: %v", err)
	}
	writeFile(t, path, "{}", 0o600)
	if err := CheckCredentialsPath(path, false); !errors.Is(err, ErrExists) {
		t.Errorf("existing path: %v, want ErrExists", err)
	}
	if err := CheckCredentialsPath(path, true); err != nil {
		t.Errorf("existing path with force: %v", err)
	}
	if err := CheckCredentialsPath(filepath.Join(dir, "nope", "c.json"), false); err == nil || !strings.Contains(err.Error(), "does not take a new file") {
		t.Errorf("missing directory: %v", err)
	}
	if err := CheckCredentialsPath(dir, true); err == nil {
		t.Errorf("a directory as the path with force: no error")
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"c.json"}) {
		t.Errorf("directory holds %v after the checks", names)
	}
}

func TestReadCredentialsRefusals(t *testing.T) {
	dir := t.TempDir()
	good := `{"connector":"https://c","gateway_id":"gw-1","secret":"` + testSecret + `","delivery_key":"dk","tenant":"t"}`
	for _, tt := range []struct {
		name    string
		content string
		mode    os.FileMode
		cause   error
		want    string
	}{
		{"world-readable", good, 0o644, ErrInsecureFile, "chmod 600"},
		{"group-readable", good, 0o640, ErrInsecureFile, "chmod 600"},
		{"world-writable only", good, 0o602, ErrInsecureFile, "chmod 600"},
		{"truncated JSON", `{"gateway_id":"gw-1","secret":"` + testSecret, 0o600, ErrMalformed, "not valid JSON"},
		{"not an object", `["gw-1","` + testSecret + `"]`, 0o600, ErrMalformed, "not a JSON object"},
		{"empty", ``, 0o600, ErrMalformed, "not a JSON object"},
		{"secret not a string", `{"gateway_id":"gw-1","secret":12345}`, 0o600, ErrMalformed, `"secret" must be a string`},
		{"no gateway_id", `{"secret":"` + testSecret + `"}`, 0o600, ErrIncomplete, "no gateway_id"},
		{"no secret", `{"gateway_id":"gw-1","secret":"  "}`, 0o600, ErrIncomplete, "no secret"},
		{"neither", `{}`, 0o600, ErrIncomplete, "no gateway_id and no secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			writeFile(t, path, tt.content, tt.mode)
			_, err := ReadCredentials(path)
			if !errors.Is(err, tt.cause) || !strings.Contains(fmtErr(err), tt.want) || !strings.Contains(fmtErr(err), path) {
				t.Errorf("err = %v, want %v mentioning %q and the path", err, tt.cause, tt.want)
			}
			if strings.Contains(fmtErr(err), testSecret) || strings.Contains(fmtErr(err), "12345") {
				t.Errorf("error text quotes the file: %v", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(dir, "absent.json")
		_, err := ReadCredentials(path)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(fmtErr(err), path) || !strings.Contains(fmtErr(err), "does not exist") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		_, err := ReadCredentials(dir)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown keys are ignored", func(t *testing.T) {
		path := filepath.Join(dir, "future.json")
		writeFile(t, path, `{"gateway_id":"gw-1","secret":"s","added_later":{"x":1}}`, 0o600)
		if c, err := ReadCredentials(path); err != nil || c.GatewayID != "gw-1" {
			t.Errorf("%v, %v", c, err)
		}
	})
}

// TestReadCredentialsUnreadable reads a 0600 file that belongs to someone
// else. Root reads anything, so as root the test binary reads it again as
// the unprivileged user nobody.
func TestReadCredentialsUnreadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "creds.json")
	writeFile(t, path, `{"gateway_id":"gw-1","secret":"`+testSecret+`"}`, 0o600)
	var out string
	if os.Geteuid() != 0 {
		writeFile(t, path, `{"gateway_id":"gw-1","secret":"`+testSecret+`"}`, 0o000)
		_, err := ReadCredentials(path)
		out = fmt.Sprintf("%v|%v", errors.Is(err, fs.ErrPermission), err)
	} else {
		// t.TempDir is two levels of 0700 directories: let nobody in.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		bin := filepath.Join(dir, "control.test")
		copyExecutable(t, os.Args[0], bin)
		cmd := exec.CommandContext(testCtx(t), bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childReadEnv+"="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, b)
		}
		out = string(b)
	}
	isPerm, msg, _ := strings.Cut(out, "|")
	if isPerm != "true" || !strings.Contains(msg, "permission denied") || !strings.Contains(msg, path) || strings.Contains(msg, testSecret) {
		t.Errorf("unreadable file: %s", out)
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialsNeverPrintTheirSecret(t *testing.T) {
	c := sampleCredentials()
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(&c)} {
		if strings.Contains(s, testSecret) || strings.Contains(s, "dk-1") || !strings.Contains(s, "gw-1") {
			t.Errorf("printed credentials: %s", s)
		}
	}
}
