package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MaxCredentialsFileBytes caps how much of a credentials file is read: the
// file is one small JSON object of six strings; 64 KiB is far above it.
const MaxCredentialsFileBytes = 64 << 10

// credentialsFileMode is the only mode a credentials file is created with:
// it holds the gateway's secret.
const credentialsFileMode = 0o600

// Credentials are what a gateway needs to authenticate to its connector:
// what enroll writes to the credentials file and run reads from it, or
// what provision returns for the process's lifetime.
type Credentials struct {
	Connector   string `json:"connector"`
	GatewayID   string `json:"gateway_id"`
	Secret      string `json:"secret"`
	DeliveryKey string `json:"delivery_key"`
	Tenant      string `json:"tenant"`
	WakeURL     string `json:"wake_url,omitempty"`
}

// String describes the credentials with the secret and delivery key
// redacted, so printing them by mistake leaks nothing.
func (c Credentials) String() string {
	return fmt.Sprintf("{connector:%q gateway_id:%q secret:%s delivery_key:%s tenant:%q wake_url:%q}",
		c.Connector, c.GatewayID, redacted(c.Secret), redacted(c.DeliveryKey), c.Tenant, c.WakeURL)
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}

// ErrExists is the cause of a FileError when WriteCredentials (or
// CheckCredentialsPath) finds the file already there and force is off.
var ErrExists = errors.New("already exists")

// ErrMalformed is the cause of a FileError for a credentials file that is
// not the expected JSON object.
var ErrMalformed = errors.New("malformed")

// ErrIncomplete is the cause of a FileError for credentials without a
// gateway id or a secret.
var ErrIncomplete = errors.New("incomplete")

const credentialsWhat = "credentials file"

// ReadCredentials reads the credentials file at path. It refuses a file
// that is missing, unreadable, accessible to group or others, not a JSON
// object of strings, or without gateway_id or secret; the FileError names
// the file and the problem and never quotes its content. Unknown keys are
// ignored, so a newer relay-host's file still reads.
func ReadCredentials(path string) (Credentials, error) {
	data, err := readPrivateFile(credentialsWhat, path, MaxCredentialsFileBytes)
	if err != nil {
		return Credentials{}, err
	}
	c, problem := parseCredentials(data)
	if problem != nil {
		return Credentials{}, &FileError{What: credentialsWhat, Path: path, Problem: problem.text, Err: problem.cause}
	}
	return c, nil
}

// credentialsProblem is why a credentials file's bytes were refused.
type credentialsProblem struct {
	text  string
	cause error
}

// parseCredentials decodes and checks the bytes of a credentials file.
// The problem text never quotes the bytes.
func parseCredentials(data []byte) (Credentials, *credentialsProblem) {
	var c Credentials
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Credentials{}, &credentialsProblem{"is not a JSON object", ErrMalformed}
	}
	if err := json.Unmarshal(data, &c); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return Credentials{}, &credentialsProblem{fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset), ErrMalformed}
		case errors.As(err, &te) && te.Field != "":
			return Credentials{}, &credentialsProblem{fmt.Sprintf("%q must be a string", te.Field), ErrMalformed}
		}
		return Credentials{}, &credentialsProblem{"is not valid JSON", ErrMalformed}
	}
	var missing []string
	if strings.TrimSpace(c.GatewayID) == "" {
		missing = append(missing, "gateway_id")
	}
	if strings.TrimSpace(c.Secret) == "" {
		missing = append(missing, "secret")
	}
	if len(missing) > 0 {
		return Credentials{}, &credentialsProblem{"has no " + strings.Join(missing, " and no "), ErrIncomplete}
	}
	return c, nil
}

// CheckCredentialsPath checks, before anything is sent, that
// WriteCredentials(path, …, force) will be able to write: the file must
// not exist unless force (ErrExists), and its directory must exist and take
// a new file (checked by creating and removing an empty temporary file).
// Enrollment tokens are single-use, so this runs before the enroll POST.
func CheckCredentialsPath(path string, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return &FileError{What: credentialsWhat, Path: path, Problem: "already exists", Err: ErrExists}
		} else if !errors.Is(err, os.ErrNotExist) {
			return &FileError{What: credentialsWhat, Path: path, Problem: fsProblem(err), Err: err}
		}
	} else if st, err := os.Stat(path); err == nil && st.IsDir() {
		return &FileError{What: credentialsWhat, Path: path, Problem: "is a directory", Err: os.ErrInvalid}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "its directory does not take a new file: " + fsProblem(err), Err: err}
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// tempPattern is the name pattern of the temporary file beside path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// WriteCredentials writes c to path as one JSON object, atomically: a
// temporary file in the same directory, created with mode 0600, is
// written, synced and renamed over path, and the directory is synced, so a
// crash leaves either the old file or the new one, never a partial one,
// and the secret is never readable by others, not even briefly. An
// existing file is refused with ErrExists unless force. Credentials without
// a gateway id or secret are refused with ErrIncomplete.
func WriteCredentials(path string, c Credentials, force bool) (err error) {
	if strings.TrimSpace(c.GatewayID) == "" || strings.TrimSpace(c.Secret) == "" {
		return &FileError{What: credentialsWhat, Path: path, Problem: "refusing to write credentials without a gateway id and a secret", Err: ErrIncomplete}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // a wake URL's & stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	data := buf.Bytes()
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern(path)) // created 0600
	if err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "create a temporary file beside it: " + fsProblem(err), Err: err}
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(credentialsFileMode); err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "chmod the temporary file: " + fsProblem(err), Err: err}
	}
	if _, err := f.Write(data); err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "write: " + fsProblem(err), Err: err}
	}
	if err := f.Sync(); err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "sync: " + fsProblem(err), Err: err}
	}
	if err := f.Close(); err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "close: " + fsProblem(err), Err: err}
	}
	if err := install(tmp, path, force); err != nil {
		return err
	}
	return syncDir(dir)
}

// install moves the written temporary file to path. Without force it
// links (which fails if path exists, atomically, so a file that appeared
// since the check is never clobbered) and then removes the temporary name,
// falling back to a rename where the file system has no hard links; with
// force it renames over path.
func install(tmp, path string, force bool) error {
	if force {
		if err := os.Rename(tmp, path); err != nil {
			return &FileError{What: credentialsWhat, Path: path, Problem: "rename into place: " + fsProblem(err), Err: err}
		}
		return nil
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return &FileError{What: credentialsWhat, Path: path, Problem: "already exists", Err: ErrExists}
		}
		// A file system without hard links: rename, having checked again
		// that nothing appeared at path.
		if _, lerr := os.Lstat(path); lerr == nil {
			return &FileError{What: credentialsWhat, Path: path, Problem: "already exists", Err: ErrExists}
		}
		if err := os.Rename(tmp, path); err != nil {
			return &FileError{What: credentialsWhat, Path: path, Problem: "rename into place: " + fsProblem(err), Err: err}
		}
		return nil
	}
	if err := os.Remove(tmp); err != nil {
		return &FileError{What: credentialsWhat, Path: path, Problem: "remove the temporary file " + tmp + ": " + fsProblem(err), Err: err}
	}
	return nil
}

// syncDir makes the rename durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return &FileError{What: credentialsWhat, Path: dir, Problem: "open the directory to sync it: " + fsProblem(err), Err: err}
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return &FileError{What: credentialsWhat, Path: dir, Problem: "sync the directory: " + fsProblem(err), Err: err}
	}
	return nil
}
