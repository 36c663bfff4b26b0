package main

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/relayhost/relay-host/internal/scaffold"
)

const pluginsNewAbout = `Write a new plugin module for platform NAME into DIR (default
./relay-plugin-NAME): main.go (pluginapi.Serve), convert.go (the converter
to fill in), a table test with plugintest, a test that runs the plugin as a
real subprocess, testdata/ with a sample and its SOURCES.md, a Makefile that
builds with -trimpath, and a README. Then:

  cd DIR && go mod tidy && make test && make build

The module requires the SDK at this relay-host's version; see the README to
point it at another release or a local checkout.`

// semver matches a release version of relay-host (what the SDK module is
// tagged with).
var semver = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// pluginsNewCommand writes a new plugin module.
func pluginsNewCommand(env *environment, args []string) error {
	fs := newFlagSet(env, "plugins new", "plugins new NAME [--module PATH] [--dir DIR]", pluginsNewAbout)
	var module, dir string
	fs.stringVar(&module, "module", "", "", "module path of the new plugin (default example.com/relay-plugin-NAME)")
	fs.stringVar(&dir, "dir", "", "", "directory to write it to; must not exist or be empty (default ./relay-plugin-NAME)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fs.usageErrorf("want exactly one NAME, the plugin's (and platform's) name")
	}
	name := fs.Arg(0)
	if dir == "" {
		dir = "relay-plugin-" + name
	}
	sdk := ""
	if semver.MatchString(version) {
		sdk = "v" + version
		if version[0] == 'v' {
			sdk = version
		}
	}
	files, err := scaffold.Write(dir, scaffold.Params{Name: name, Module: module, SDKVersion: sdk})
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(env.stdout, "wrote %s\n", filepath.Join(dir, f))
	}
	fmt.Fprintf(env.stdout, "\nNext:\n  cd %s && go mod tidy && make test && make build\n", dir)
	if sdk == "" {
		fmt.Fprintf(env.stdout, "This relay-host is a development build: point the module at a release\n"+
			"(go get %s@vX.Y.Z) or at your checkout (go mod edit -replace %s=/path/to/relay-host) first.\n",
			scaffold.SDKModule, scaffold.SDKModule)
	}
	return nil
}
