package plugins

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PinFileName is the pin file in the plugins directory, in sha256sum format
// ("<hex>  <file name>" per line). When it exists, only plugins listed in it
// with a matching hash are started.
const PinFileName = "plugins.sha256"

// Pins maps a plugin file name to its pinned lowercase hex SHA-256.
type Pins map[string]string

// ReadPins reads dir's pin file. It returns nil Pins and no error when the
// file does not exist (pinning is off), and a *PinFileError for a line that
// is not in sha256sum format.
func ReadPins(dir string) (Pins, error) {
	path := filepath.Join(dir, PinFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pin file %s: %w", path, err)
	}
	pins := Pins{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*") // sha256sum's binary-mode marker
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || name == "" {
			return nil, &PinFileError{Path: path, Line: n}
		}
		pins[filepath.Base(name)] = strings.ToLower(sum)
	}
	return pins, nil
}

// WritePins writes dir's pin file for the candidates, replacing it.
func WritePins(dir string, cands []Candidate) error {
	var b strings.Builder
	for _, c := range cands {
		fmt.Fprintf(&b, "%s  %s\n", c.SHA256, c.FileName())
	}
	path := filepath.Join(dir, PinFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("pin file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pin file %s: %w", path, err)
	}
	return nil
}

// Check says whether a candidate may start under pins: nil when pinning is
// off or its hash matches, else a *PinError.
func (p Pins) Check(c Candidate) error {
	if p == nil {
		return nil
	}
	want, ok := p[c.FileName()]
	if !ok {
		return &PinError{Path: c.Path, Got: c.SHA256}
	}
	if want != c.SHA256 {
		return &PinError{Path: c.Path, Got: c.SHA256, Want: want}
	}
	return nil
}

// WritePinMap writes dir's pin file from pins (file name → hash), sorted by
// file name, replacing it.
func WritePinMap(dir string, pins Pins) error {
	cands := make([]Candidate, 0, len(pins))
	for _, name := range slices.Sorted(maps.Keys(pins)) {
		cands = append(cands, Candidate{Name: strings.TrimPrefix(name, FilePrefix), Path: filepath.Join(dir, name), SHA256: pins[name]})
	}
	return WritePins(dir, cands)
}

// sha256Hex is the lowercase hex SHA-256 of data.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
