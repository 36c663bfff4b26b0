package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/relayhost/relay-host/host/edge"

	"github.com/relayhost/relay-host/host/relay"
)

// devDormancy is dev mode's --dormant-after: the host goes dormant as in
// production, the embedded connector buffers what arrives and calls the
// host's wake URL (/wake on the host's --listen), and the story says so.
type devDormancy struct {
	after time.Duration
	out   *devLog
}

// on reports whether dormancy is configured.
func (d devDormancy) on() bool { return d.after > 0 }

// tuning wraps the link's observer so that the story shows the host going
// dormant and coming back.
func (d devDormancy) tuning() func(*relay.Config) {
	if !d.on() {
		return nil
	}
	return func(rc *relay.Config) {
		rc.Observer = &devStateObserver{Observer: rc.Observer, d: d}
	}
}

// connect points the embedded connector's wake calls at the host's /wake
// on httpAddr and prints where that is.
func (d devDormancy) connect(e *edge.Edge, httpAddr string) {
	if !d.on() {
		return
	}
	wakeURL := "http://" + httpAddr + "/wake"
	e.SetWake(wakeURL, func(r edge.WakeResult) {
		text := fmt.Sprintf("work buffered for the dormant host: GET %s", r.URL)
		switch {
		case r.Err != nil:
			text += fmt.Sprintf(" failed: %v", r.Err)
		default:
			text += fmt.Sprintf(" → %d", r.Status)
		}
		d.line("connector", ansiBlue, text)
	})
	d.out.notef("Dormancy             after %s without activity the host goes dormant; a request wakes it through %s", d.after, wakeURL)
}

// line prints one labelled line of the story.
func (d devDormancy) line(label, code, text string) {
	d.out.notef("  %s %s", d.out.paint(code, fmt.Sprintf("%-10s", label)), text)
}

// devStateObserver passes the link's states on and tells the story of
// dormancy.
type devStateObserver struct {
	relay.Observer
	d       devDormancy
	dormant atomic.Bool
}

// State implements relay.Observer.
func (o *devStateObserver) State(s relay.State) {
	o.Observer.State(s)
	switch s {
	case relay.StateDormant:
		o.dormant.Store(true)
		o.d.line("host", ansiYellow, fmt.Sprintf("dormant: nothing for %s; the link is closed and the plugins stay up. POST a request to wake it", o.d.after))
	case relay.StateConnected:
		if o.dormant.Swap(false) {
			o.d.line("host", ansiGreen, "awake: connected again; the connector replays what it buffered")
		}
	}
}
