// Command relay-host is the gateway side of a relay connector link: it dials
// out to the connector over a WebSocket, runs every forwarded platform
// request through an out-of-process plugin, hands the events to an agent and
// sends the agent's replies back. Run `relay-host help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes of relay-host (docs/operating.md, Exit codes).
const (
	exitOK      = 0
	exitFailure = 1 // bad configuration, bad input or a failed start
	exitUsage   = 2 // unknown command or flag
	exitRevoked = 3 // the connector revoked the credential
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a command may touch of the outside world; tests
// replace it.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	executable     func() (string, error)
}

func commands() []command {
	return []command{
		{"run", "connect to a connector and serve forwards (the main job)", runCommand},
		{"dev", "run an embedded connector, the bundled plugins and the echo agent locally", devCommand},
		{"convert", "run one request body through the plugin for a platform and print the result", convertCommand},
		{"plugins", "list the installed plugins, or pin their checksums", pluginsCommand},
		{"enroll", "trade a single-use enrollment token for this gateway's credentials file", enrollCommand},
		{"bench", "measure throughput, latency and memory against a local connector (loopback only)", benchCommand},
		{"version", "print the version", versionCommand},
	}
}

const usageText = `relay-host — the gateway side of a relay connector link.

A connector receives Discord interactions and Twilio webhooks at its public
edge, answers the platform's ACK and forwards each request down a WebSocket
that relay-host dialed out. relay-host runs each forward through the plugin
for its platform, hands the resulting events to an agent and sends the
agent's replies back as follow-ups.

Usage:
  relay-host <command> [flags] [args]

Commands:
%s
Run 'relay-host <command> --help' for a command's flags. Every flag also
reads an environment variable (shown in each command's help).
`

func usage(w io.Writer) {
	var list string
	for _, c := range commands() {
		list += fmt.Sprintf("  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, usageText, list)
}

// errUsage marks errors that are the caller's misuse of the command line;
// the message has already been printed with the command's usage.
var errUsage = errors.New("usage error")

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	env := &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, executable: os.Executable}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// runMain runs the command line and returns the exit code.
func runMain(ctx context.Context, env *environment, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help", "-help":
		usage(env.stdout)
		return exitOK
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, env, args[1:])
		var ee *exitError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, errHelp):
			return exitOK
		case errors.Is(err, errUsage):
			return exitUsage
		case errors.As(err, &ee):
			fmt.Fprintf(env.stderr, "relay-host %s: %s\n", name, explain(ee.err))
			return ee.code
		default:
			fmt.Fprintf(env.stderr, "relay-host %s: %s\n", name, explain(err))
			return exitFailure
		}
	}
	fmt.Fprintf(env.stderr, "relay-host: unknown command %q\n\n", name)
	usage(env.stderr)
	return exitUsage
}
