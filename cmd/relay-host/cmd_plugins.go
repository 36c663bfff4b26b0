package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/pluginapi"
)

const pluginsAbout = `Manage the plugins in the plugins directory.

  list [--check]        start every plugin, ask it what it serves and print
                        name, version, SDK version, platforms, whether it is
                        pinned, sha256 and path; --check also configures each
                        one (<plugins-dir>/NAME.json) and runs its health check
  pin                   write plugins.sha256 (sha256sum format) with every
                        plugin's current hash; from then on a plugin whose hash
                        differs, or one not listed, is refused at start
  pin NAME...           pin only these plugins' current hashes, keeping the
                        other lines of plugins.sha256
  pin --hash NAME=SHA256
                        pin a published hash for relay-plugin-NAME (repeatable),
                        before the file is dropped in: a running host takes the
                        file once it is in place and has that hash
  new NAME [--module PATH] [--dir DIR]
                        write a new plugin module (see 'relay-host plugins new --help')`

func pluginsCommand(ctx context.Context, env *environment, args []string) error {
	if len(args) > 0 && args[0] == "new" {
		return pluginsNewCommand(env, args[1:])
	}
	fs := newFlagSet(env, "plugins", "plugins list [--check] | pin [NAME...] [--hash NAME=SHA256] [--plugins-dir DIR]", pluginsAbout)
	var dir string
	var check bool
	var hashes hashFlag
	var lf logFlags
	fs.pluginsDirFlag(&dir)
	fs.BoolVar(&check, "check", false, "list: also configure each plugin and run its health check")
	fs.Var(&hashes, "hash", "pin: NAME=SHA256, a published hash to pin for relay-plugin-NAME; repeatable")
	fs.logFlags(&lf, "warn")
	if len(args) == 0 {
		return fs.usageErrorf("missing subcommand: list, pin or new")
	}
	sub := args[0]
	if strings.HasPrefix(sub, "-") {
		if err := fs.parse(args); err != nil {
			return err
		}
		return fs.usageErrorf("missing subcommand: list, pin or new")
	}
	if err := fs.parse(args[1:]); err != nil {
		return err
	}
	logger, err := lf.logger(env.stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		if fs.NArg() > 0 {
			return fs.usageErrorf("unexpected argument %q", fs.Arg(0))
		}
		if check {
			return checkPlugins(ctx, env, dir, logger)
		}
		return listPlugins(ctx, env, dir, logger)
	case "pin":
		return pinPlugins(env, dir, fs.Args(), hashes)
	}
	return fs.usageErrorf("unknown subcommand %q: want list, pin or new", sub)
}

// hashFlag collects repeated --hash NAME=SHA256 values.
type hashFlag map[string]string

func (f *hashFlag) String() string { return fmt.Sprint(map[string]string(*f)) }

func (f *hashFlag) Set(v string) error {
	name, sum, ok := strings.Cut(v, "=")
	sum = strings.ToLower(strings.TrimSpace(sum))
	name = strings.TrimPrefix(strings.TrimSpace(name), plugins.FilePrefix)
	if _, err := hex.DecodeString(sum); !ok || name == "" || err != nil || len(sum) != 64 {
		return fmt.Errorf("--hash %q: want NAME=SHA256 (64 hex digits), e.g. github=$(sha256sum relay-plugin-github | cut -d' ' -f1)", v)
	}
	if *f == nil {
		*f = hashFlag{}
	}
	(*f)[name] = sum
	return nil
}

// pinPlugins writes the pin file: every plugin (no names, no hashes), or
// the named plugins' current hashes and the given hashes merged into it.
func pinPlugins(env *environment, dir string, names []string, hashes hashFlag) error {
	cands, skipped, err := plugins.Discover(dir)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(env.stderr, "skipped %s: %s\n", s.Path, s.Reason)
	}
	if len(names) == 0 && len(hashes) == 0 {
		if len(cands) == 0 {
			return fmt.Errorf("no plugins in %s to pin", dir)
		}
		if err := plugins.WritePins(dir, cands); err != nil {
			return err
		}
		for _, c := range cands {
			fmt.Fprintf(env.stdout, "pinned %s  %s\n", c.SHA256, c.FileName())
		}
		fmt.Fprintf(env.stdout, "wrote %s/%s\n", dir, plugins.PinFileName)
		return nil
	}
	pins, err := plugins.ReadPins(dir)
	if err != nil {
		return err
	}
	if pins == nil {
		pins = plugins.Pins{}
	}
	for _, name := range names {
		name = strings.TrimPrefix(name, plugins.FilePrefix)
		found := false
		for _, c := range cands {
			if c.Name == name {
				pins[c.FileName()], found = c.SHA256, true
				fmt.Fprintf(env.stdout, "pinned %s  %s\n", c.SHA256, c.FileName())
			}
		}
		if !found {
			return fmt.Errorf("no plugin %s%s in %s to pin (to pin a published hash before installing it, use --hash %s=SHA256)", plugins.FilePrefix, name, dir, name)
		}
	}
	for name, sum := range hashes {
		pins[plugins.FilePrefix+name] = sum
		fmt.Fprintf(env.stdout, "pinned %s  %s%s\n", sum, plugins.FilePrefix, name)
	}
	if err := plugins.WritePinMap(dir, pins); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s/%s (%d pins)\n", dir, plugins.PinFileName, len(pins))
	return nil
}

// sdkOf shows a plugin's SDK version; plugins built before SDK 1.0 did not
// report one.
func sdkOf(info pluginapi.Info) string {
	if info.SDKVersion == "" {
		return "<1.0"
	}
	return info.SDKVersion
}

func listPlugins(ctx context.Context, env *environment, dir string, logger hclog.Logger) error {
	cands, skipped, err := plugins.Discover(dir)
	if err != nil {
		return err
	}
	pins, err := plugins.ReadPins(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSDK\tPLATFORMS\tPINNED\tSHA256\tPATH")
	var failed []string
	for _, c := range cands {
		pinned := "no"
		if pins != nil {
			pinned = "yes"
			if err := pins.Check(c); err != nil {
				pinned = "REFUSED"
				failed = append(failed, explain(err))
			}
		}
		ver, sdk, platforms := "?", "?", "?"
		if pinned != "REFUSED" {
			info, err := plugins.Probe(ctx, c, logger)
			if err != nil {
				failed = append(failed, explain(err))
				platforms = "(failed to start)"
			} else {
				ver, sdk, platforms = info.Version, sdkOf(info), strings.Join(info.Platforms, ",")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, ver, sdk, platforms, pinned, c.SHA256, c.Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(env.stderr, "skipped %s: %s\n", s.Path, s.Reason)
	}
	if len(cands) == 0 {
		return &plugins.NoPluginsError{Dir: dir}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}

// checkPlugins starts every plugin as run would (pins, configuration),
// runs each one's health check and prints the outcome; it fails when any
// plugin is refused or unhealthy.
func checkPlugins(ctx context.Context, env *environment, dir string, logger hclog.Logger) error {
	mgr, err := plugins.Open(ctx, plugins.Config{Dir: dir, Logger: logger})
	if err != nil {
		return err
	}
	defer mgr.Close()
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSDK\tPLATFORMS\tSTATE\tHEALTH")
	var failed []string
	for _, h := range mgr.CheckHealth(ctx) {
		health := "ok"
		if h.Err != nil {
			health = "UNHEALTHY: " + h.Err.Error()
			failed = append(failed, fmt.Sprintf("plugin %s is unhealthy: %v", h.Name, h.Err))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Info.Version, sdkOf(h.Info), strings.Join(h.Info.Platforms, ","), h.State, health)
	}
	for _, r := range mgr.Refusals() {
		fmt.Fprintf(tw, "%s\t?\t?\t%s\tREFUSED\t-\n", r.Name, strings.Join(r.Platforms, ","))
		failed = append(failed, explain(r.Err))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}
