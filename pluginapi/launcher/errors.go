package launcher

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/go-plugin"
)

// ErrPluginGone is returned for a forward whose plugin process died or whose
// connection broke before it answered. The forward was not handled and must
// not be acknowledged; the connector redelivers it.
var ErrPluginGone = errors.New("plugin connection lost")

// ChecksumError says a plugin executable's SHA-256 is not the one
// LaunchConfig.Checksum requires; the plugin was not started. It matches
// go-plugin's ErrChecksumsDoNotMatch with errors.Is.
type ChecksumError struct {
	// Path is the executable.
	Path string
	// Got is the executable's SHA-256 as read after the refusal; nil if it
	// could not be read.
	Got []byte
	// Want is the required SHA-256.
	Want []byte
}

// Error states the facts.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s: its sha256 is %x, not the required %x", filepath.Base(e.Path), e.Got, e.Want)
}

// Unwrap returns go-plugin's ErrChecksumsDoNotMatch.
func (e *ChecksumError) Unwrap() error { return plugin.ErrChecksumsDoNotMatch }

// ProtocolError says a plugin speaks another protocol version than the
// host (pluginapi.ProtocolVersion); the plugin was not started.
type ProtocolError struct {
	// Path is the executable.
	Path string
	// Plugin is the protocol version the plugin speaks.
	Plugin int
	// Host is the protocol version the host speaks.
	Host int
}

// Error states the facts.
func (e *ProtocolError) Error() string {
	return fmt.Sprintf("plugin %s speaks protocol %d, this host speaks %d", filepath.Base(e.Path), e.Plugin, e.Host)
}

// HandshakeError says a plugin did not complete the go-plugin handshake: it
// exited, printed something that is not a handshake (it is not built with
// pluginapi.Serve), or did not finish in time (Timeout).
type HandshakeError struct {
	// Path is the executable.
	Path string
	// Timeout is set when the handshake did not finish within the start
	// timeout.
	Timeout bool
	// Err is go-plugin's error.
	Err error
}

// Error states the facts.
func (e *HandshakeError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("plugin %s did not complete the handshake in time: %v", filepath.Base(e.Path), e.Err)
	}
	return fmt.Sprintf("plugin %s exited or misbehaved during the handshake: %v", filepath.Base(e.Path), e.Err)
}

// Unwrap returns go-plugin's error.
func (e *HandshakeError) Unwrap() error { return e.Err }
