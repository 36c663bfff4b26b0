// Package plugins finds, verifies, starts and supervises relay-host plugins,
// and dispatches forwards to them by platform.
//
// Discover lists the plugin executables in a directory; pins.go reads and
// writes the plugins.sha256 pin file; a Supervisor owns one plugin process
// from launch to kill (restarts with backoff, health); a Manager owns all
// supervisors and is the only thing the rest of the host talks to.
package plugins
