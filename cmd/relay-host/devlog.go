package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/relayhost/relay-host/host"
	"github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/edge"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// holdLimit bounds how long the dev log holds a host step back waiting for
// the edge to report the forward it belongs to. The edge reports a forward
// right after handing it to the link, microseconds before the host usually
// reports anything; the hold only covers a goroutine that was preempted in
// between, and never delays a line by more than this.
const holdLimit = 250 * time.Millisecond

// ANSI colours for a terminal.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiBlue    = "\x1b[34m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// devLog prints what the dev mode's edge and host report, one labelled line
// each, in an order that reads as a story, and keeps what it printed so the
// demo can wait for each sample's steps.
type devLog struct {
	w         io.Writer
	color     bool
	agentName string

	mu             sync.Mutex
	retain         bool            // keep items for wait (the demo and tests)
	separate       bool            // a blank line before each new request
	items          []any           // edge.Event, host.Step or note, in arrival order
	changed        notify.Signal   // notified on every new item
	announced      map[string]bool // bufferIds the edge has reported (the last announceMemory)
	announcedOrder []string        // announced's keys, oldest first
	held           []any           // lines waiting for their forward to be reported
	heldTimer      *time.Timer
}

// note is a line of the dev command's own (a heading, a summary).
type note string

func newDevLog(w io.Writer, color bool, agentName string) *devLog {
	return &devLog{w: w, color: color, agentName: agentName, announced: map[string]bool{}}
}

// isTerminal reports whether w is a terminal (colour is then welcome).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// setRetain turns keeping items for wait on or off; off drops them.
func (l *devLog) setRetain(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retain = on
	if !on {
		l.items = nil
	}
}

// setSeparate turns the blank line before each request on or off.
func (l *devLog) setSeparate(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.separate = on
}

// edgeEvent is the edge's Config.OnEvent.
func (l *devLog) edgeEvent(ev edge.Event) { l.add(ev) }

// step is the gateway's trace hook.
func (l *devLog) step(s host.Step) { l.add(s) }

// notef prints a line of the command's own.
func (l *devLog) notef(format string, args ...any) { l.add(note(fmt.Sprintf(format, args...))) }

func (l *devLog) add(item any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.retain {
		l.items = append(l.items, item)
	}
	l.changed.Notify()

	switch x := item.(type) {
	case edge.Forwarded:
		l.announceLocked(x.BufferID)
		l.printLocked(item)
		l.releaseLocked(false)
		return
	case edge.Buffered:
		l.announceLocked(x.BufferID)
		l.printLocked(item)
		l.releaseLocked(false)
		return
	case host.Step:
		if x.Stage == host.StagePlugin && x.Forward.BufferID != "" && !l.announced[x.Forward.BufferID] {
			l.holdLocked(item)
			return
		}
	}
	if len(l.held) > 0 {
		l.holdLocked(item) // keep the order behind what is held
		return
	}
	l.printLocked(item)
}

func (l *devLog) holdLocked(item any) {
	l.held = append(l.held, item)
	if l.heldTimer == nil {
		l.heldTimer = time.AfterFunc(holdLimit, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.heldTimer = nil
			l.releaseLocked(true)
		})
	}
}

// releaseLocked prints held lines from the front while their forward has
// been reported (or all of them when force is set).
func (l *devLog) releaseLocked(force bool) {
	n := 0
	for ; n < len(l.held); n++ {
		if s, ok := l.held[n].(host.Step); ok && !force && s.Stage == host.StagePlugin &&
			s.Forward.BufferID != "" && !l.announced[s.Forward.BufferID] {
			break
		}
		l.printLocked(l.held[n])
	}
	l.held = l.held[n:]
	if len(l.held) == 0 && l.heldTimer != nil {
		l.heldTimer.Stop()
		l.heldTimer = nil
	}
}

func (l *devLog) paint(code, s string) string {
	if !l.color || code == "" {
		return s
	}
	return code + s + ansiReset
}

func (l *devLog) printLocked(item any) {
	if n, ok := item.(note); ok {
		fmt.Fprintln(l.w, string(n))
		return
	}
	label, code, text := l.describe(item)
	if label == "" {
		return // kept for the demo's waits, not worth a line
	}
	if l.separate {
		switch item.(type) {
		case edge.Received, edge.Refused:
			fmt.Fprintln(l.w)
		}
	}
	fmt.Fprintf(l.w, "  %s %s\n", l.paint(code, fmt.Sprintf("%-10s", label)), text)
}

// describe gives an item's label, colour and text; an empty label means
// the item is not printed.
func (l *devLog) describe(item any) (label, code, text string) {
	switch x := item.(type) {
	case edge.Received:
		return "received", ansiCyan, x.String()
	case edge.Refused:
		return "refused", ansiRed, x.String()
	case edge.Answered:
		return "answered", ansiBlue, x.String()
	case edge.Forwarded:
		return "forwarded", ansiMagenta, x.String()
	case edge.Buffered:
		return "buffered", ansiYellow, x.String()
	case edge.Acked:
		return "acked", ansiDim, x.String()
	case edge.HostConnected:
		return "host", ansiGreen, strings.TrimPrefix(x.String(), "host ")
	case edge.HostIdle:
		return "host", ansiYellow, strings.TrimPrefix(x.String(), "host ")
	case edge.FollowUp:
		if x.Matched {
			return "follow-up", ansiGreen + ansiBold, x.String()
		}
		return "follow-up", ansiRed, x.String()
	case edge.Sent:
		if x.Error != "" {
			return "send", ansiRed, x.String()
		}
		return "send", ansiGreen, x.String()
	case edge.Outbound:
		if !x.Success {
			return x.Op, ansiRed, x.String()
		}
		return x.Op, ansiGreen, x.String()
	case edge.Media:
		if x.Reason != "" {
			return "media", ansiRed, x.String()
		}
		return "media", ansiGreen, x.String()
	case edge.Event:
		return "edge", "", x.String()
	case host.Step:
		return l.describeStep(x)
	}
	return "?", "", fmt.Sprint(item)
}

func (l *devLog) describeStep(s host.Step) (label, code, text string) {
	switch s.Stage {
	case host.StageAgent:
		return l.describeAgent(s)
	case host.StageAnswer:
		return describeAnswer(s)
	}
	f := s.Forward
	id := f.BufferID
	if id == "" {
		id = "live forward"
	}
	if s.Err != nil {
		return "plugin", ansiRed, fmt.Sprintf("%s plugin failed on %s: %v (left un-acked for redelivery)", f.Platform, id, s.Err)
	}
	r := s.Result
	switch r.Disposition {
	case pluginapi.Handled:
		if len(r.Events) == 0 {
			return "plugin", ansiYellow, fmt.Sprintf("%s plugin handled %s: no events", f.Platform, id)
		}
		ev := r.Events[0]
		more := ""
		if len(r.Events) > 1 {
			more = fmt.Sprintf(" (+%d more events)", len(r.Events)-1)
		}
		return "plugin", ansiYellow, fmt.Sprintf("%s plugin handled %s: %s %q, session %s%s",
			f.Platform, id, ev.MessageType, edge.OneLine(ev.Text), ev.SessionKey, more)
	}
	return "plugin", ansiYellow, fmt.Sprintf("%s plugin %s %s: %s", f.Platform, r.Disposition, id, r.Reason)
}

// mark returns the position the next item will take, for wait.
func (l *devLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// wait blocks until done, called with the items since from (in arrival
// order), returns true, or ctx ends; ctx must carry a deadline. Items are
// only kept while retain is on.
func (l *devLog) wait(ctx context.Context, from int, done func(items []any) bool) error {
	return l.changed.Wait(ctx, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return done(l.items[min(from, len(l.items)):])
	})
}

// flush prints whatever is still held.
func (l *devLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(true)
}

// heading renders a bold heading line (plain without colour).
func (l *devLog) heading(s string) string { return l.paint(ansiBold, s) }

func (l *devLog) describeAgent(s host.Step) (label, code, text string) {
	more := ""
	if s.Actions > 0 {
		more = fmt.Sprintf(" and %d action%s to run", s.Actions, plural(s.Actions))
	}
	switch {
	case s.Swallowed:
		return "agent", ansiYellow, fmt.Sprintf("%q not delivered: it answers a prompt of another gateway, a prompt already answered, or one no longer open (acked all the same)",
			edge.OneLine(s.Event.Text))
	case s.Err != nil:
		return "agent", ansiRed, fmt.Sprintf("%s agent failed: %v (the forward stays un-acked for redelivery)", l.agentName, s.Err)
	case s.Reply == "" && more == "" && l.agentName == jetstream.Name:
		return "agent", ansiGreen, fmt.Sprintf("jetstream agent stored %q in stream %s as %s (a worker replies)",
			edge.OneLine(s.Event.Text), jetstream.StreamName, s.EventID)
	case s.Reply == "" && more == "":
		return "agent", ansiGreen, fmt.Sprintf("%s agent took %q, no reply", l.agentName, edge.OneLine(s.Event.Text))
	case s.Reply == "":
		return "agent", ansiGreen, fmt.Sprintf("%s agent took %q, no reply%s", l.agentName, edge.OneLine(s.Event.Text), more)
	}
	return "agent", ansiGreen, fmt.Sprintf("%s agent replied %q%s", l.agentName, edge.OneLine(s.Reply), more)
}

// describeAnswer describes how an agent's answer went out, when there is
// more to say than the follow-up lines show: a reply in several parts, a
// fallback, a failure, actions.
func describeAnswer(s host.Step) (label, code, text string) {
	var parts []string
	switch {
	case s.Err != nil:
		code = ansiRed
		parts = append(parts, fmt.Sprintf("reply failed: %v", s.Err))
	case s.Parts > 1:
		parts = append(parts, fmt.Sprintf("reply went out as %d messages: it was longer than the chat takes", s.Parts))
	}
	if s.Fallback != "" {
		parts = append(parts, "the follow-up failed, so the reply went to the chat as a "+s.Fallback)
	}
	for _, a := range s.ActionOutcomes {
		if a.Error != "" {
			code = ansiRed
			parts = append(parts, fmt.Sprintf("action %s failed %s", orNoOp(a.Op), a.Error))
		} else {
			parts = append(parts, fmt.Sprintf("action %s done", orNoOp(a.Op)))
		}
	}
	if len(parts) == 0 {
		return "", "", ""
	}
	if code == "" {
		code = ansiGreen
	}
	return "answer", code, strings.Join(parts, "; ")
}

func orNoOp(op string) string {
	if op == "" {
		return "(no op)"
	}
	return op
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
