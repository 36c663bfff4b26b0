package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/internal/rawrequest"
	"github.com/relayhost/relay-host/pluginapi"
)

// headerFlag collects repeated --header 'Name: value' values.
type headerFlag []pluginapi.Header

func (f *headerFlag) String() string { return fmt.Sprint(*f) }

func (f *headerFlag) Set(v string) error {
	h, err := rawrequest.ParseHeader(v)
	if err != nil {
		return err
	}
	*f = append(*f, h)
	return nil
}

// readRequest reads a recorded raw HTTP request file ('-': standard input)
// as a forward for platform.
func readRequest(env *environment, platform, name string) (pluginapi.Forward, error) {
	var r io.Reader = env.stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return pluginapi.Forward{}, fmt.Errorf("--request: %w", err)
		}
		defer file.Close()
		r = file
	}
	raw, err := io.ReadAll(io.LimitReader(r, 2*pluginapi.MaxBodyBytes))
	if err != nil {
		return pluginapi.Forward{}, fmt.Errorf("--request %s: %w", name, err)
	}
	f, err := rawrequest.Parse(platform, raw)
	if err != nil {
		return pluginapi.Forward{}, fmt.Errorf("--request %s: %w", name, err)
	}
	return f, nil
}

const convertAbout = `Run one request body through the plugin for a platform, exactly as 'run'
would for a forward, and print the plugin's answer as one JSON object:

  {"disposition": "handled"|"dropped"|"rejected", "reason": "…", "events": [ … ]}

Each event is the MessageEvent JSON form (docs/events.md). FILE is the raw
request body as the platform posted it (a Discord interaction JSON, a
form-encoded Twilio webhook); '-' reads standard input. --header adds a
request header (repeatable), for platforms that name their event in one
(X-GitHub-Event). --request FILE instead reads a whole recorded HTTP request
(request line, headers, a blank line, the body: what curl --trace-ascii or a
browser's "copy as" gives) and forwards its method, path, headers and body
as the connector would. The plugin is configured as 'run' would configure it
(<plugins-dir>/NAME.json). The plugin's log goes to standard error. Exit
status is 0 whenever the plugin answered, whatever the disposition.`

func convertCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "convert", "convert --platform NAME [--plugins-dir DIR] [--path P] [--header 'K: V']... FILE|- | --request FILE", convertAbout)
	var platform, dir, path, profile, botID, contentType, requestFile string
	var headers headerFlag
	var pf pluginFlags
	var lf logFlags
	fs.Var(&headers, "header", "'Name: value' header to add to the forward; repeatable")
	fs.stringVar(&requestFile, "request", "", "", "a recorded raw HTTP request to forward (request line, headers, body), instead of FILE")
	fs.Var(&pf.configs, "plugin-config", "NAME=PATH: the configuration file of plugin NAME, in place of <plugins-dir>/NAME.json; repeatable")
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
	var f pluginapi.Forward
	switch {
	case requestFile != "" && fs.NArg() > 0:
		return fs.usageErrorf("give FILE or --request FILE, not both")
	case requestFile != "":
		var err error
		if f, err = readRequest(env, platform, requestFile); err != nil {
			return err
		}
	case fs.NArg() != 1:
		return fs.usageErrorf("want exactly one FILE (or - for standard input, or --request FILE), got %d arguments", fs.NArg())
	default:
		body, err := readBody(env, fs.Arg(0))
		if err != nil {
			return err
		}
		if contentType == "" {
			contentType = "application/x-www-form-urlencoded"
			if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
				contentType = "application/json"
			}
		}
		f = pluginapi.Forward{Platform: platform, Method: "POST", Path: "/" + platform, Body: body,
			Headers: []pluginapi.Header{{Name: "content-type", Value: contentType}}}
	}
	if path != "" {
		f.Path = path
	}
	f.BotID, f.Profile = botID, profile
	f.Headers = append(f.Headers, headers...)
	logger, err := lf.logger(env.stderr)
	if err != nil {
		return err
	}
	mgr, err := plugins.Open(ctx, plugins.Config{Dir: dir, Logger: logger, PluginConfigs: pf.configs.m})
	if err != nil {
		return err
	}
	defer mgr.Close()
	for _, r := range mgr.Refusals() {
		if slices.Contains(r.Platforms, platform) {
			return r.Err
		}
	}
	if !mgr.Serves(platform) {
		return fmt.Errorf("no plugin serves platform %q: the plugins in %s serve %s", platform, dir, strings.Join(mgr.Platforms(), ", "))
	}
	res, err := mgr.Dispatch(ctx, f)
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
