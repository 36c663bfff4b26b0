package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
)

// errHelp is returned when --help was asked for and printed.
var errHelp = errors.New("help requested")

// flagSet wraps flag.FlagSet with environment twins and a help text.
type flagSet struct {
	*flag.FlagSet
	env      *environment
	synopsis string
	about    string
	envNames map[string]string // flag name → environment variable
}

func newFlagSet(env *environment, name, synopsis, about string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("relay-host "+name, flag.ContinueOnError), env: env,
		synopsis: synopsis, about: about, envNames: map[string]string{}}
	fs.SetOutput(env.stderr)
	fs.Usage = func() {} // parse prints the usage itself, once, to the right stream
	return fs
}

func (fs *flagSet) printUsage() {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: relay-host %s\n\n%s\n", fs.synopsis, strings.TrimSpace(fs.about))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		if e := fs.envNames[f.Name]; e != "" {
			fmt.Fprintf(w, " [$%s]", e)
		}
		fmt.Fprintln(w)
	})
}

// stringVar defines a string flag whose default comes from an environment
// variable when that is set.
func (fs *flagSet) stringVar(p *string, name, envName, def, usage string) {
	if envName != "" {
		fs.envNames[name] = envName
		if v := fs.env.getenv(envName); v != "" {
			def = v
		}
	}
	fs.StringVar(p, name, def, usage)
}

// parse parses args, allowing flags after positional arguments (as in
// `convert FILE --platform discord`); "--" ends the flags. --help prints the
// usage and returns errHelp; a bad flag prints the error and usage and
// returns errUsage. The positional arguments are then fs.Args().
func (fs *flagSet) parse(args []string) error {
	fs.SetOutput(fs.env.stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(fs.env.stdout)
				fs.printUsage()
				return errHelp
			}
			fmt.Fprintln(fs.Output())
			fs.printUsage()
			return errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// usageErrorf prints a usage error with the command's usage.
func (fs *flagSet) usageErrorf(format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.printUsage()
	return errUsage
}

// defaultPluginsDir is plugins/ beside the relay-host executable.
func defaultPluginsDir(env *environment) string {
	exe, err := env.executable()
	if err != nil {
		return "plugins"
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "plugins")
}

// pluginsDirFlag adds the shared --plugins-dir flag.
func (fs *flagSet) pluginsDirFlag(p *string) {
	fs.stringVar(p, "plugins-dir", "RELAY_PLUGINS_DIR", defaultPluginsDir(fs.env),
		"directory holding the plugin executables (relay-plugin-<name>) and the optional plugins.sha256 pin file")
}
