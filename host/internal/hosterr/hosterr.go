// Package hosterr holds the sentinel errors that package host defines for
// its interfaces and that the packages implementing those interfaces return.
// It exists so that an implementation (package plugins, which host must not
// import) and host itself compare against one value without importing each
// other, as the standard library's internal/oserror does for os, io/fs and
// syscall. Callers use the re-exported names: host.ErrNoPlugin,
// plugins.ErrNoPlugin.
package hosterr

import "errors"

// ErrNoPlugin is what a Dispatcher's Dispatch wraps when no plugin serves a
// forward's platform; the host settles such a forward as a deliberate drop.
var ErrNoPlugin = errors.New("no plugin serves this platform")
