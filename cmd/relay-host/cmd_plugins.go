package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/plugins"
)

const pluginsAbout = `Manage the plugins in the plugins directory.

  list   start every plugin, ask it what it serves and print name, version,
         platforms, path, sha256 and whether it is pinned
  pin    write plugins.sha256 (sha256sum format) with every plugin's current
         hash; from then on a plugin whose hash differs, or one not listed,
         is refused at start`

func pluginsCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "plugins", "plugins list|pin [--plugins-dir DIR]", pluginsAbout)
	var dir string
	var lf logFlags
	fs.pluginsDirFlag(&dir)
	fs.logFlags(&lf, "warn")
	if len(args) == 0 {
		return fs.usageErrorf("missing subcommand: list or pin")
	}
	sub := args[0]
	if strings.HasPrefix(sub, "-") {
		if err := fs.parse(args); err != nil {
			return err
		}
		return fs.usageErrorf("missing subcommand: list or pin")
	}
	if err := fs.parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fs.usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	logger, err := lf.logger(env.stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		return listPlugins(ctx, env, dir, logger)
	case "pin":
		cands, skipped, err := plugins.Discover(dir)
		if err != nil {
			return err
		}
		for _, s := range skipped {
			fmt.Fprintf(env.stderr, "skipped %s: %s\n", s.Path, s.Reason)
		}
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
	return fs.usageErrorf("unknown subcommand %q: want list or pin", sub)
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
	fmt.Fprintln(tw, "NAME\tVERSION\tPLATFORMS\tPINNED\tSHA256\tPATH")
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
		ver, platforms := "?", "?"
		if pinned != "REFUSED" {
			info, err := plugins.Probe(ctx, c, logger)
			if err != nil {
				failed = append(failed, explain(err))
				ver, platforms = "?", "(failed to start)"
			} else {
				ver, platforms = info.Version, strings.Join(info.Platforms, ",")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, ver, platforms, pinned, c.SHA256, c.Path)
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
