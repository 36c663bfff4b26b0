package edge

import "github.com/relayhost/relay-host/host/internal/devconnector"

// WakeResult is the outcome of one call the connector made to the host's
// wake URL.
type WakeResult = devconnector.WakeResult

// SetWake makes the connector GET url (payload-free, unsigned, at most
// once a second) when a request is buffered for a host that went idle, as
// the real connector calls a gateway's wake URL; report (nil for none) is
// told each call's outcome and must not block. An empty url turns it off.
func (e *Edge) SetWake(url string, report func(WakeResult)) { e.srv.SetWake(url, report) }
