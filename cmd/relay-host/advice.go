package main

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// explain renders an error for the command line: the library's message,
// which states the facts, followed by what to do about it. Only this
// command knows its flags and subcommands, so the advice lives here. The
// parts of an error that only lists several (several refused pins,
// several plugins that failed to start) are explained one by one.
func explain(err error) string {
	if parts, ok := listed(err); ok {
		msgs := make([]string, len(parts))
		for i, e := range parts {
			msgs[i] = explain(e)
		}
		return strings.Join(msgs, "; ")
	}
	var he *launcher.HandshakeError
	if errors.As(err, &he) && !he.Timeout && he.Err != nil {
		// go-plugin's cause can run to many lines: the advice goes before it.
		head := strings.TrimSuffix(he.Error(), ": "+he.Err.Error())
		return strings.Replace(err.Error(), he.Error(), head+handshakeAdvice+": "+he.Err.Error(), 1)
	}
	return err.Error() + advice(err)
}

// handshakeAdvice is what to do about a plugin that failed its handshake.
const handshakeAdvice = " (is it built with pluginapi.Serve? run it with " + pluginapi.EnvLogLevel + "=debug to see why)"

// listed returns the parts of an error whose message is nothing but its
// parts' messages joined (errors.Join, the plugins package's lists), and
// not of one that says more (fmt.Errorf with several %w).
func listed(err error) ([]error, bool) {
	list, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil, false
	}
	parts := list.Unwrap()
	msgs := make([]string, len(parts))
	for i, e := range parts {
		msgs[i] = e.Error()
	}
	msg := err.Error()
	return parts, len(parts) > 0 && (msg == strings.Join(msgs, "; ") || msg == strings.Join(msgs, "\n"))
}

// pluginName is the plugin name of an executable path.
func pluginName(path string) string {
	return strings.TrimPrefix(filepath.Base(path), plugins.FilePrefix)
}

// advice is what to do about err, "" when there is nothing to add.
func advice(err error) string {
	var (
		dirErr       *plugins.DirError
		noPlugins    *plugins.NoPluginsError
		pinErr       *plugins.PinError
		pinFileErr   *plugins.PinFileError
		conflict     *plugins.PlatformConflictError
		protocolErr  *launcher.ProtocolError
		handshakeErr *launcher.HandshakeError
		checksumErr  *launcher.ChecksumError
		agentURLErr  *agent.URLError
		configErr    *plugins.ConfigError
		configureErr *launcher.ConfigureError
		permErr      *launcher.PermissionError
	)
	switch {
	case errors.As(err, &dirErr) && errors.Is(err, fs.ErrNotExist):
		return ": build the bundled plugins with `make build` or pass --plugins-dir"
	case errors.As(err, &noPlugins):
		return "; build the bundled ones with `make build`"
	case errors.As(err, &pinErr) && pinErr.Want == "":
		return ": run `relay-host plugins pin " + pluginName(pinErr.Path) + "` if you trust it"
	case errors.As(err, &pinErr):
		return "; rebuild the pinned version (with -trimpath, so the same source gives the same hash) or run `relay-host plugins pin " +
			pluginName(pinErr.Path) + "` if you trust this build"
	case errors.As(err, &checksumErr):
		return "; rebuild the pinned version (with -trimpath) or run `relay-host plugins pin` if you trust this build"
	case errors.As(err, &configErr):
		return " (the file is {\"settings\": {…}, \"secrets\": {\"NAME\": {\"file\": PATH}}}: see docs/plugin-authoring.md, Configuration, and the plugin's README for its keys)"
	case errors.As(err, &configureErr):
		return " (the plugin's README says what it takes; fix the file, and a running host picks it up)"
	case errors.As(err, &pinFileErr):
		return "; regenerate it with `relay-host plugins pin`"
	case errors.As(err, &conflict):
		return ": remove one of them from " + conflict.Dir
	case errors.As(err, &protocolErr):
		return ": rebuild the plugin against pluginapi v" + strconv.Itoa(protocolErr.Host) + " or upgrade relay-host"
	case errors.As(err, &handshakeErr) && !handshakeErr.Timeout:
		return handshakeAdvice
	case errors.As(err, &agentURLErr):
		return ": pass the agent's endpoint with --agent-url (or $RELAY_AGENT_URL), e.g. http://127.0.0.1:8000/events"
	case errors.As(err, &permErr) && permErr.Writable() != "":
		return ": only its owner may write it; run `chmod go-w " + permErr.Path + "`"
	case errors.As(err, &permErr):
		return ": it must belong to the user relay-host runs as, or to root; run `chown " + strconv.Itoa(permErr.User) + " " + permErr.Path + "` (or `chown root`)"
	}
	return jetstreamAdvice(err)
}
