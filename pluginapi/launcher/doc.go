// Package launcher is the host's side of the plugin SDK: Launch starts a
// plugin executable and completes the go-plugin handshake (gRPC, AutoMTLS,
// an allowlisted environment, PluginEnv); Remote sends it forwards down one
// long-lived stream, batched when the plugin advertises the forward-batches
// capability, and matches the results by id; ServeInProcess serves a
// pluginapi.Plugin over an in-memory gRPC connection with the same code on
// both ends, for tests.
//
// relay-host's supervisor (package host/plugins) and package plugintest
// launch plugins through this package, so tests exercise exactly what
// production runs. Plugin authors import pluginapi and plugintest, not
// this package.
//
// Errors are typed (ChecksumError, ProtocolError, HandshakeError; a forward
// whose plugin went away fails with ErrPluginGone) and carry the facts; the
// command that prints them adds what to do. Every error of Launch starts
// with "plugin <file name>".
package launcher
