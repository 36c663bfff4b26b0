package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/pluginapi"
)

const convertAbout = `Run one request body through the plugin for a platform, exactly as 'run'
would for a forward, and print the plugin's answer as one JSON object:

  {"disposition": "handled"|"dropped"|"rejected", "reason": "…", "events": [ … ]}

Each event is the MessageEvent JSON form (docs/events.md). FILE is the raw
request body as the platform posted it (a Discord interaction JSON, a
form-encoded Twilio webhook); '-' reads standard input. The plugin's log goes
to standard error. Exit status is 0 whenever the plugin answered, whatever
the disposition.`

func convertCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "convert", "convert --platform NAME [--plugins-dir DIR] [--path P] FILE|-", convertAbout)
	var platform, dir, path, profile, botID, contentType string
	var lf logFlags
	fs.stringVar(&platform, "platform", "", "", "platform of the forward, e.g. discord or twilio (required)")
	fs.pluginsDirFlag(&dir)
	fs.stringVar(&path, "path", "", "", "request path of the forward (default /<platform>)")
	fs.stringVar(&profile, "profile", "", "", "agent profile the connector would stamp on the forward (default: none)")
	fs.stringVar(&botID, "bot-id", "", "", "bot id the forward is addressed to")
	fs.stringVar(&contentType, "content-type", "", "", "content-type header of the forward (default: application/json for a body starting with '{', else application/x-www-form-urlencoded)")
	fs.logFlags(&lf, "info")
	if err := fs.parse(args); err != nil {
		return err
	}
	if platform == "" {
		return fs.usageErrorf("--platform is required")
	}
	if fs.NArg() != 1 {
		return fs.usageErrorf("want exactly one FILE (or - for standard input), got %d arguments", fs.NArg())
	}
	logger, err := lf.logger(env.stderr)
	if err != nil {
		return err
	}
	body, err := readBody(env, fs.Arg(0))
	if err != nil {
		return err
	}
	if path == "" {
		path = "/" + platform
	}
	if contentType == "" {
		contentType = "application/x-www-form-urlencoded"
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
			contentType = "application/json"
		}
	}
	mgr, err := plugins.Open(ctx, plugins.Config{Dir: dir, Logger: logger})
	if err != nil {
		return err
	}
	defer mgr.Close()
	if !mgr.Serves(platform) {
		return fmt.Errorf("no plugin serves platform %q: the plugins in %s serve %s", platform, dir, strings.Join(mgr.Platforms(), ", "))
	}
	res, err := mgr.Dispatch(ctx, pluginapi.Forward{
		Platform: platform, BotID: botID, Method: "POST", Path: path, Profile: profile,
		Headers: []pluginapi.Header{{Name: "content-type", Value: contentType}},
		Body:    body,
	})
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // URLs print as they are, not with \u0026
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// readBody reads the body file (or stdin for "-"), refusing bodies over the
// plugin body limit.
func readBody(env *environment, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = env.stdin
		name = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("body file %s does not exist: pass the path of a request body, or - to read standard input", name)
			}
			return nil, fmt.Errorf("open body file: %w", err)
		}
		defer f.Close()
		r = f
	}
	body, err := io.ReadAll(io.LimitReader(r, pluginapi.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(body) > pluginapi.MaxBodyBytes {
		return nil, fmt.Errorf("body in %s is over the %d-byte limit (no platform request is that large): check that it is a single request body", name, pluginapi.MaxBodyBytes)
	}
	return body, nil
}
