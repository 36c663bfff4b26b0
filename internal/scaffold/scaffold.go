// Package scaffold writes a new relay-host plugin module: what
// `relay-host plugins new NAME` generates. The module builds and passes its
// tests as generated (once `go mod tidy` has fetched the SDK): a main
// package calling pluginapi.Serve, a converter, a table test with
// plugintest, a test of the plugin as a real subprocess, a sample request
// with its SOURCES.md, a Makefile that builds with -trimpath, and a README.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// SDKModule is the module path of the SDK a plugin imports.
const SDKModule = "github.com/relayhost/relay-host"

// template holds the files of a new module; a file's name is its path in
// the module with ".tmpl" added.
//
//go:embed template
var files embed.FS

// Params are what a new module is made of.
type Params struct {
	// Name is the plugin's name and the platform it serves.
	Name string
	// Module is the module path; "" gives example.com/relay-plugin-<name>.
	Module string
	// SDKVersion is the SDK version the module requires, e.g. "v1.4.0";
	// "" (a development build of relay-host) gives v0.0.0, which needs a
	// replace directive or `go get github.com/relayhost/relay-host@VERSION`.
	SDKVersion string
}

// nameRule is the rule for a plugin (and platform) name: what
// relay-plugin-<name> and the connector's platform names allow.
var nameRule = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ErrExists is the error (wrapped) of Write into a directory that already
// holds files.
var ErrExists = errors.New("directory is not empty")

// Write writes a new plugin module into dir, which must not exist or be
// empty, and returns the paths written, relative to dir.
func Write(dir string, p Params) ([]string, error) {
	if !nameRule.MatchString(p.Name) {
		return nil, fmt.Errorf("plugin name %q: want a lower-case name of letters, digits, '-' and '_', starting with a letter (it is also the platform name)", p.Name)
	}
	if p.Module == "" {
		p.Module = "example.com/relay-plugin-" + p.Name
	}
	if strings.ContainsAny(p.Module, " \t\n\"`") {
		return nil, fmt.Errorf("module path %q is not a module path", p.Module)
	}
	if p.SDKVersion == "" {
		p.SDKVersion = "v0.0.0"
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrExists)
	}
	data := struct {
		Params
		SDKModule, Ident string
	}{p, SDKModule, ident(p.Name)}
	var written []string
	err := fs.WalkDir(files, "template", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		tmpl, err := template.New(path).Delims("[[", "]]").Parse(string(src))
		if err != nil {
			return fmt.Errorf("template %s: %w", path, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, data); err != nil {
			return fmt.Errorf("template %s: %w", path, err)
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(path, "template/"), ".tmpl")
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, out.Bytes(), 0o644); err != nil {
			return err
		}
		written = append(written, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write plugin module: %w", err)
	}
	return written, nil
}

// ident turns a plugin name into a Go identifier.
func ident(name string) string {
	return strings.NewReplacer("-", "_").Replace(name) + "Plugin"
}
