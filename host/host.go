package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/internal/hosterr"
	"github.com/relayhost/relay-host/host/internal/logguard"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// ReplyTimeout bounds sending one reply (the outbound request and its
// outbound_result); the transport's own 30 s outbound timeout
// (docs/protocol.md, Outbound results) applies within it.
const ReplyTimeout = 35 * time.Second

// Dispatcher runs a forward through the plugin for its platform
// (*plugins.Manager). An error wrapping ErrNoPlugin means no plugin serves
// the forward's platform: the host settles it as a deliberate drop.
type Dispatcher interface {
	Dispatch(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error)
}

// ErrNoPlugin is what a Dispatcher wraps when no plugin serves a forward's
// platform. package plugins returns the same value (plugins.ErrNoPlugin)
// without the host importing it.
var ErrNoPlugin = hosterr.ErrNoPlugin

// Link is the connector link as the host uses it (*relay.Client).
type Link interface {
	Outbound(ctx context.Context, action any, platform, botID string) relay.OutboundResult
	// OutboundAsync sends without waiting: done gets the result (see
	// relay.Client.OutboundAsync); a nil done sends untracked.
	OutboundAsync(action any, platform, botID string, done func(relay.OutboundResult))
	AckInbound(bufferID string) error
}

// Config configures a Host.
type Config struct {
	// Identities are the fronted identities (the same as the link's).
	Identities []relay.Identity
	// Plugins runs forwards; required.
	Plugins Dispatcher
	// Agent takes events; required.
	Agent agent.Agent
	// Logger is the host logger; nil discards.
	Logger hclog.Logger
	// Metrics records outcomes; nil disables.
	Metrics *metrics.Metrics
	// Trace, when set, is told each stage of each delivery (dev mode
	// prints them). It is called from delivery goroutines and must not
	// block for long.
	Trace func(Step)
}

// Step is one stage of a delivery, as reported to Config.Trace.
type Step struct {
	// Stage is StagePlugin (a plugin answered, or failed) or StageAgent
	// (the agent took an event, or failed).
	Stage string
	// Forward is the forward (StagePlugin).
	Forward pluginapi.Forward
	// Result is the plugin's answer (StagePlugin, when Err is nil).
	Result pluginapi.Result
	// Event is the event handed to the agent (StageAgent, StageAnswer).
	Event pluginapi.MessageEvent
	// EventID is the event's id as the agent saw it (StageAgent,
	// StageAnswer).
	EventID string
	// Reply is the agent's reply, "" for none (StageAgent, StageAnswer).
	Reply string
	// Actions is how many actions the agent's answer carries (StageAgent).
	Actions int
	// Swallowed marks an event kept from the agent: a prompt answer for
	// another gateway, a repeat, or one for an expired prompt (StageAgent).
	Swallowed bool
	// Status is the agent API's status for the reply (StageAnswer; 0 when
	// there was no reply).
	Status int
	// Parts is how many messages the reply went out in (StageAnswer).
	Parts int
	// Fallback is "send" when a follow_up reply fell back to a send
	// (StageAnswer).
	Fallback string
	// ActionOutcomes are the results of the answer's actions, in order
	// (StageAnswer).
	ActionOutcomes []ActionOutcome
	// Err is the failure, if the stage failed (for StageAnswer: the
	// reply's).
	Err error
}

// Stages reported in Step.Stage.
const (
	StagePlugin = "plugin"
	StageAgent  = "agent"
	// StageAnswer reports an agent's answer sent after the delivery was
	// settled (with the agent API only).
	StageAnswer = "answer"
)

// Host turns deliveries from the connector into agent turns and replies. It
// implements relay.Handler. Create it with New, Attach the link, then hand
// it to the link as its handler.
type Host struct {
	cfg     Config
	log     hclog.Logger
	ledger  *bufferLedger
	ctx     context.Context
	cancel  context.CancelFunc
	work    sync.WaitGroup
	active  activity // deliveries in progress, for Busy
	workers *workerPool
	link    Link
	linkSet chan struct{}
	api     AgentAPI // set by UseAgentAPI before the link runs
	// adm bounds the work in progress, agentCalls the agent hand-offs,
	// replies the replies awaiting results (admission.go, replies.go);
	// logs rate-limits the per-delivery log lines.
	adm        *admission
	agentCalls chan struct{}
	answering  chan struct{} // answers in progress (MaxAnswering)
	replies    replies
	logs       *logguard.Limiter

	mu    sync.Mutex
	turns map[string]*turn // session key → its running turns (a list)
}

// turn is one running agent hand-off, cancellable by an interrupt.
// turn is one running agent turn, in the list of its session key's turns.
type turn struct {
	cancel     context.CancelFunc
	prev, next *turn
}

var _ relay.Handler = (*Host)(nil)

// New returns a Host.
func New(cfg Config) (*Host, error) {
	if cfg.Plugins == nil || cfg.Agent == nil {
		return nil, errors.New("host: Plugins and Agent are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var platforms []string
	if p, ok := cfg.Plugins.(interface{ Platforms() []string }); ok {
		platforms = p.Platforms()
	}
	h := &Host{cfg: cfg, log: cfg.Logger, ledger: newBufferLedger(), ctx: ctx, cancel: cancel,
		workers: newWorkerPool(ctx.Done()), linkSet: make(chan struct{}), turns: map[string]*turn{},
		agentCalls: make(chan struct{}, MaxAgentCalls), answering: make(chan struct{}, MaxAnswering), logs: logguard.NewLimiter(nil)}
	h.adm = newAdmission(ctx, platforms, h.workers.run)

	if cfg.Metrics != nil {
		cfg.Metrics.ObserveInFlight(h.adm.inFlight)
	}
	return h, nil
}

// Attach sets the link replies and acks go out on. Deliveries that arrive
// before it is attached wait for it.
func (h *Host) Attach(l Link) {
	h.link = l
	close(h.linkSet)
}

// Wait blocks until every delivery in progress has finished (settled, failed
// or been cancelled), or ctx ends.
func (h *Host) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop cancels every delivery in progress and forgets the parked ones;
// un-settled ones stay un-acknowledged and are redelivered by the connector
// later.
func (h *Host) Stop() {
	h.cancel()
	n := h.adm.drop()
	h.work.Add(-n)
	h.active.n.Add(-int64(n))
}

// Passthrough implements relay.Handler. It hands the forward to the
// admission (admission.go), which starts it on a delivery goroutine or parks
// it, and waits, on the reader, only while the host's bounds are full: that
// wait is the back-pressure on the connector. A forward that cannot be
// admitted is left un-acknowledged.
func (h *Host) Passthrough(f pluginapi.Forward) {
	h.work.Add(1)
	h.active.begin()
	why := h.adm.admit(f.Platform, forwardBytes(f), func(t *ticket) {
		defer h.work.Done()
		defer h.active.end()
		h.forward(f, t)
	})
	if why != "" {
		h.work.Done()
		h.active.end()
		h.notStarted(f.Platform, f.BufferID, why)
	}
}

// Inbound implements relay.Handler: a normalised event goes straight to the
// agent, and its reply goes back as a send to its chat. It is admitted like
// a forward.
func (h *Host) Inbound(ev pluginapi.MessageEvent, bufferID string) {
	h.work.Add(1)
	h.active.begin()
	why := h.adm.admit("", eventBytes(ev), func(t *ticket) {
		defer h.work.Done()
		defer h.active.end()
		h.deliver(ev.Source.Platform, "inbound", bufferID, t, func() (bool, []reply) {
			r, err := h.callAgent(&ev, inboundEventID(bufferID, ev), h.botID(ev.Source.Platform))
			if err != nil {
				h.warnLimited("inbound event not taken by the agent; left un-acknowledged for redelivery",
					"platform", logguard.Clip(ev.Source.Platform), "chat_id", logguard.Clip(ev.Source.ChatID),
					"buffer_id", logguard.Clip(bufferID), "error", logguard.ClipError(err))
				return false, nil
			}
			return true, []reply{r}
		})
	})
	if why != "" {
		h.work.Done()
		h.active.end()
		h.notStarted(ev.Source.Platform, bufferID, why)
	}
}

// notStarted reports a delivery the admission refused; it stays
// un-acknowledged, so a buffered one is redelivered on a later connection.
func (h *Host) notStarted(platform, bufferID, why string) {
	h.warnLimited("delivery not started ("+why+"); left un-acknowledged for redelivery",
		"platform", logguard.Clip(platform), "buffer_id", logguard.Clip(bufferID))
	h.observe(platform, "failed")
	if m := h.cfg.Metrics; m != nil {
		m.Shed(why)
	}
}

// warnLimited logs a per-delivery warning, at most a burst and then one a
// second of each message (logguard), with the count of those held back.
func (h *Host) warnLimited(msg string, args ...any) {
	ok, held := h.logs.Allow(msg)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	h.log.Warn(msg, args...)
}

// infoLimited is warnLimited at INFO.
func (h *Host) infoLimited(msg string, args ...any) {
	ok, held := h.logs.Allow(msg)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	h.log.Info(msg, args...)
}

// callAgent hands one event to the agent within MaxAgentCalls.
func (h *Host) callAgent(ev *pluginapi.MessageEvent, eventID, botID string) (reply, error) {
	select {
	case h.agentCalls <- struct{}{}:
	case <-h.ctx.Done():
		return reply{}, fmt.Errorf("waiting for an agent call: %w", h.ctx.Err())
	}
	defer func() { <-h.agentCalls }()
	return h.turn(ev, eventID, botID)
}

// InterruptInbound implements relay.Handler: it cancels the agent turns
// running for that session key, and no others, and tells an agent that
// takes interrupt notices (agent.Interrupter).
func (h *Host) InterruptInbound(sessionKey, chatID string) {
	h.mu.Lock()
	n := 0
	for t := h.turns[sessionKey]; t != nil; t = t.next {
		t.cancel()
		n++
	}
	h.mu.Unlock()
	h.infoLimited("interrupt received", "session_key", logguard.Clip(sessionKey), "chat_id", logguard.Clip(chatID), "turns_cancelled", n)
	h.notifyInterrupt(sessionKey, chatID)
}

// forward handles one passthrough forward.
func (h *Host) forward(f pluginapi.Forward, t *ticket) {
	h.deliver(f.Platform, "passthrough", f.BufferID, t, func() (bool, []reply) {
		res, err := h.cfg.Plugins.Dispatch(h.ctx, f)
		t.leaveLane()
		if h.cfg.Trace != nil {
			h.cfg.Trace(Step{Stage: StagePlugin, Forward: f, Result: res, Err: err})
		}
		if errors.Is(err, ErrNoPlugin) {
			// Deliberately dropped and settled, as the reference does for
			// platforms it has no handler for (docs/protocol.md,
			// Passthrough forwards by platform).
			h.infoLimited("forward dropped (no plugin for its platform)", "platform", logguard.Clip(f.Platform),
				"method", logguard.Clip(f.Method), "path", logguard.Clip(f.Path), "buffer_id", logguard.Clip(f.BufferID))
			h.observe(f.Platform, "dropped")
			return true, nil
		}
		if err != nil {
			h.warnLimited("forward failed; left un-acknowledged for redelivery",
				"platform", logguard.Clip(f.Platform), "path", logguard.Clip(f.Path), "buffer_id", logguard.Clip(f.BufferID), "error", logguard.ClipError(err))
			h.observe(f.Platform, "failed")
			return false, nil
		}
		if res.Disposition != pluginapi.Handled {
			h.infoLimited("forward "+string(res.Disposition), "platform", logguard.Clip(f.Platform), "method", logguard.Clip(f.Method),
				"path", logguard.Clip(f.Path), "buffer_id", logguard.Clip(f.BufferID), "reason", logguard.Clip(res.Reason))
			h.observe(f.Platform, string(res.Disposition))
			return true, nil
		}
		replies := make([]reply, 0, len(res.Events))
		for i := range res.Events {
			ev := &res.Events[i]
			r, err := h.callAgent(ev, forwardEventID(f, i, *ev), f.BotID)
			if err != nil {
				h.warnLimited("event not taken by the agent; forward left un-acknowledged for redelivery",
					"platform", logguard.Clip(f.Platform), "path", logguard.Clip(f.Path), "buffer_id", logguard.Clip(f.BufferID),
					"session_key", logguard.Clip(ev.SessionKey), "error", logguard.ClipError(err))
				h.observe(f.Platform, "failed")
				return false, nil
			}
			replies = append(replies, r)
		}
		h.observe(f.Platform, string(pluginapi.Handled))
		return true, replies
	})
}

// deliver runs one delivery with the buffered-delivery rules: a settled
// replay is acked again and not re-run; a delivery is acked only once it is
// settled (handed off or deliberately dropped); answers go out after the
// ack. It gives back the delivery's ticket, its bytes once settled, the
// rest before the answers go out: an answer waits for outbound_results the
// reader must be free to read, so it never holds a share of the admission
// (which the reader may be waiting on). Answers in progress are bounded
// apart (MaxAnswering).
func (h *Host) deliver(platform, kind, bufferID string, t *ticket, run func() (settled bool, replies []reply)) {
	defer t.release()
	start := time.Now()
	if bufferID != "" {
		switch h.ledger.claim(bufferID) {
		case alreadyDone:
			h.log.Debug("replayed delivery already settled; acknowledging again", "kind", kind, "buffer_id", logguard.Clip(bufferID))
			if m := h.cfg.Metrics; m != nil {
				m.Replay()
				m.ForwardOutcome(platform, "duplicate")
			}
			h.ack(bufferID)
			return
		case alreadyActive:
			h.log.Debug("replayed delivery already in progress; leaving it to that copy", "kind", kind, "buffer_id", logguard.Clip(bufferID))
			return
		}
	}
	settled, replies := run()
	// The ack and the replies sent without waiting leave in one write.
	h.batch(func() {
		if bufferID != "" {
			h.ledger.release(bufferID, settled)
			if settled {
				h.ack(bufferID)
			}
		}
		t.settled()
		if m := h.cfg.Metrics; m != nil && settled {
			m.ForwardLatency(platform, time.Since(start))
		}
		replies = slices.DeleteFunc(replies, h.answerAsync)
	})
	if !slices.ContainsFunc(replies, reply.sends) {
		return
	}
	select {
	case h.answering <- struct{}{}:
	case <-h.ctx.Done():
		return
	}
	defer func() { <-h.answering }()
	t.release()
	for _, r := range replies {
		h.answer(r)
	}
}

func (h *Host) observe(platform, outcome string) {
	if m := h.cfg.Metrics; m != nil {
		m.ForwardOutcome(platform, outcome)
	}
}

func (h *Host) waitLink() Link {
	select {
	case <-h.linkSet:
		return h.link
	case <-h.ctx.Done():
		return nil
	}
}

// Batcher is a Link that can hold the frames written during a call and
// send them together (relay.Client.Batch).
type Batcher interface {
	Batch(fn func())
}

// batch runs fn with the link's writes batched when the link can, else
// just runs it.
func (h *Host) batch(fn func()) {
	if b, ok := h.waitLink().(Batcher); ok {
		b.Batch(fn)
		return
	}
	fn()
}

func (h *Host) ack(bufferID string) {
	l := h.waitLink()
	if l == nil {
		return
	}
	if err := l.AckInbound(bufferID); err != nil {
		// The connector redelivers it on the next connection, and the
		// ledger acks that replay without re-running it.
		h.warnLimited("ack failed; the delivery will be replayed and acked then", "buffer_id", logguard.Clip(bufferID), "error", logguard.ClipError(err))
		return
	}
	if m := h.cfg.Metrics; m != nil {
		m.Ack()
	}
}

// sendReply sends an agent's reply the way the event's egress kind says,
// without the agent API (see UseAgentAPI): a follow_up naming the session
// for interaction events (the connector holds the token), a send to the
// chat otherwise.
func (h *Host) sendReply(ev pluginapi.MessageEvent, text string) {
	l := h.waitLink()
	if l == nil {
		return
	}
	action, platform := replyAction(ev, text)
	if !h.fronts(platform) {
		platform = ""
	}
	op, _ := action["op"].(string)
	// The reply does not wait for its result (replies.go): the result
	// comes through the reader, which may be holding the connector back.
	if !h.replies.track() {
		l.OutboundAsync(action, platform, "", nil)
		if m := h.cfg.Metrics; m != nil {
			m.Outbound(op, relay.OutboundResult{Error: "untracked", Ambiguous: true})
		}
		return
	}
	l.OutboundAsync(action, platform, "", func(res relay.OutboundResult) {
		h.replies.done()
		if m := h.cfg.Metrics; m != nil {
			m.Outbound(op, res)
		}
		if !res.Success {
			h.warnLimited("reply not delivered", "op", op, "session_key", logguard.Clip(ev.SessionKey), "platform", logguard.Clip(platform),
				"error", logguard.Clip(res.Error), "code", logguard.Clip(res.Code), "ambiguous", res.Ambiguous)
			return
		}
		if h.log.IsDebug() {
			h.log.Debug("reply delivered", "op", op, "session_key", logguard.Clip(ev.SessionKey), "message_id", logguard.Clip(res.MessageID))
		}
	})
}

// replyAction builds the outbound action for a reply, and the platform it
// egresses through (docs/protocol.md, Outbound actions; docs/events.md,
// Replies).
func replyAction(ev pluginapi.MessageEvent, text string) (map[string]any, string) {
	if ev.EgressKind != "" {
		md := map[string]any{}
		if p := pluginapi.ProfileFromSessionKey(ev.SessionKey); p != "" {
			md["profile"] = p
		}
		platform, _, _ := strings.Cut(ev.EgressKind, ".")
		return map[string]any{
			"op": "follow_up", "session_key": ev.SessionKey, "kind": ev.EgressKind,
			"content": text, "metadata": md,
		}, platform
	}
	md := map[string]any{}
	if v := ev.Source.ScopeID; v != "" {
		md["scope_id"] = v
	}
	if v := ev.Source.UserID; v != "" {
		md["user_id"] = v
	}
	if v := ev.Source.Profile; v != "" {
		md["profile"] = v
	}
	return map[string]any{
		"op": "send", "chat_id": ev.Source.ChatID, "content": text, "reply_to": nil, "metadata": md,
	}, ev.Source.Platform
}

func (h *Host) fronts(platform string) bool {
	for _, id := range h.cfg.Identities {
		if id.Platform == platform {
			return true
		}
	}
	return false
}
