package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/internal/hostproc"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// envSecret is the environment variable `run` may read the connector secret
// from (instead of --secret-file).
const envSecret = "RELAY_SECRET"

// hardenHost protects the host process from its plugins, once it has read
// what it needs from its environment: RELAY_SECRET leaves the environment
// (Go's copy and the one /proc/PID/environ shows), and the process becomes
// non-dumpable, which closes its /proc files (environment, memory) to other
// processes of its user. Plugins run as that user unless --plugin-user says
// otherwise; this does not stop them reading files the user can read (such
// as --secret-file): docs/operating.md, Limits and isolation. Where the
// system refuses either step (no /proc), the host says so and runs on.
func hardenHost(log hclog.Logger) {
	_, had := os.LookupEnv(envSecret)
	if err := hostproc.DropEnv(envSecret); err != nil && had {
		log.Warn("could not remove the secret from the process environment; plugins of the same user may read it", "error", err)
	}
	if err := hostproc.MakeNonDumpable(); err != nil {
		log.Warn("could not make the process non-dumpable; plugins of the same user may read its memory and environment", "error", err)
	}
}

// pluginUser resolves --plugin-user: a user name or numeric uid, to start
// plugins under. It needs root; "" means the host's own user.
func pluginUser(name string) (*launcher.User, error) {
	if name == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("--plugin-user %s: relay-host must run as root to start plugins as another user (it runs as uid %d); run relay-host itself as the user the plugins should run as, or drop --plugin-user", name, os.Geteuid())
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.ParseUint(name, 10, 32); numErr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--plugin-user %s: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--plugin-user %s: uid %q or gid %q is not numeric", name, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("--plugin-user %s is root: name an unprivileged user", name)
	}
	pu := &launcher.User{Name: u.Username, UID: uint32(uid), GID: uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("--plugin-user %s: its groups: %w", name, err)
	}
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			pu.Groups = append(pu.Groups, uint32(g))
		}
	}
	return pu, nil
}
