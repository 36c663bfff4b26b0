package devconnector

// Hooks let a test connector watch each connection and misbehave on purpose
// at the points where a real connector can go wrong; package relaytest
// builds its recorder and its fault plans on them, and dev mode uses none.
// Every field is optional: the zero Hooks is a well-behaved connector that
// reports nothing. Hooks run on the connection's goroutines, in the order
// things happen on that connection, and must not block.
type Hooks struct {
	// Upgraded is told about each accepted upgrade at RelayPath, before
	// anything is read: the connection's 1-based number, whether its bearer
	// was accepted (a refused one is closed 4401 next), and the
	// Authorization header as sent.
	Upgraded func(conn int, authorized bool, authorization string)
	// Accept decides, for an authorized connection, whether to close it at
	// once, before reading anything, and with which close code (0 means
	// 1000) and reason.
	Accept func(conn int) (close bool, code int, reason string)
	// Hello decides how to answer one hello on conn: lines to send before
	// the descriptor, and whether to send the descriptor at all.
	Hello func(conn int, platform string) (before [][]byte, descriptor bool)
	// Handshaked is told that conn completed its handshake: its first
	// descriptor is about to leave (the connection is current from now on).
	Handshaked func(conn int)
	// AfterHandshake decides what conn does once its first descriptor and
	// the buffered backlog went out.
	AfterHandshake func(conn int) Next
	// AckIdle decides whether to answer a going_idle on conn; nil answers
	// every one.
	AckIdle func(conn int) bool
	// Ended is told how a connection's reader ended.
	Ended func(CloseInfo)
}

// Next is what a connection does after its handshake.
type Next struct {
	// Close closes the connection with Code (0 means 1000) and Reason.
	Close bool
	// Code and Reason are the close code and reason of Close.
	Code   int
	Reason string
	// Stall stops reading (pings go unanswered, requests are never seen)
	// until the connector closes: a dead link.
	Stall bool
}

// CloseInfo says how one connection ended, as the connector saw it.
type CloseInfo struct {
	// Conn is the connection's 1-based number.
	Conn int
	// Code is the close code the peer sent (-1 when the socket dropped
	// without a close frame, or the connector closed it itself).
	Code int
	// Reason is the peer's close reason.
	Reason string
}
