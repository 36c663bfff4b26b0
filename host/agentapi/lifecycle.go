package agentapi

import (
	"context"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// Processing reactions: added to an event's message while the agent works
// on it, then swapped for the outcome.
const (
	EmojiWorking = "👀"
	EmojiDone    = "✅"
	EmojiFailed  = "❌"
	// EmojiDoneTelegram and EmojiFailedTelegram replace ✅ and ❌ on
	// Telegram, whose bots may react only with a fixed set of emoji that
	// lacks those two.
	EmojiDoneTelegram   = "👍"
	EmojiFailedTelegram = "👎"
)

// signals is what Around sends for one event.
type signals struct {
	react, typing bool
	platform      string // the platform override of the frames ("" untagged)
	chatID        string
	messageID     string
	metadata      map[string]any
	done, failed  string // outcome emoji
}

// Around wraps one event's delivery to the agent with the lifecycle
// signals: when reactions are on and the destination advertises react, the
// event's message gets EmojiWorking as delivery starts, then loses it and
// gets EmojiDone or EmojiFailed (EmojiDoneTelegram / EmojiFailedTelegram on
// Telegram) by deliver's outcome; events without a message id, slash
// commands and interactions get none. When typing is on and advertised, and
// the event has a chat and is not answered through an interaction token
// (whose "thinking…" the connector shows), a typing heartbeat goes to the
// chat once delivery has taken TypingDelay, then every TypingInterval until
// it returns. The signals run beside the delivery and never delay it; their
// errors are logged and swallowed. Around returns deliver's error.
func (s *Service) Around(ctx context.Context, ev pluginapi.MessageEvent, deliver func(context.Context) error) error {
	sig := s.signalsFor(ev)
	if !sig.react && !sig.typing {
		return deliver(ctx)
	}
	if !s.track() {
		return deliver(ctx)
	}
	outcome := make(chan error, 1)
	go s.runSignals(sig, outcome)
	err := deliver(ctx)
	outcome <- err
	return err
}

// track counts one more background task, unless the service is closed.
func (s *Service) track() bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bg.Err() != nil {
		return false
	}
	s.wg.Add(1)
	return true
}

// signalsFor decides the signals of an event from the configuration and the
// descriptor of the event's platform.
func (s *Service) signalsFor(ev pluginapi.MessageEvent) signals {
	var sig signals
	src := ev.Source
	// An event answered through an interaction token gets neither signal
	// (no message of the user's to react to; the connector shows
	// "thinking…"): decided before any lookup, as most forwards are such.
	if src.ChatID == "" || ev.EgressKind != "" || (!s.cfg.Reactions && !s.cfg.Typing) || !s.link.Ready() {
		return sig
	}
	sig.platform = s.egressPlatform(src.Platform)
	desc, ok := s.descriptor(sig.platform)
	if !ok {
		return sig
	}
	sig.chatID = src.ChatID
	sig.messageID = ev.MessageID
	if sig.messageID == "" {
		sig.messageID = src.MessageID
	}
	sig.react = s.cfg.Reactions && advertises(desc, OpReact) && sig.messageID != "" &&
		ev.MessageType != pluginapi.MessageTypeCommand
	sig.typing = s.cfg.Typing && advertises(desc, OpTyping)
	sig.metadata = map[string]any{}
	for k, v := range map[string]string{"scope_id": src.ScopeID, "user_id": src.UserID, "profile": src.Profile, "thread_id": src.ThreadID} {
		if v != "" {
			sig.metadata[k] = v
		}
	}
	sig.done, sig.failed = EmojiDone, EmojiFailed
	if s.ackPlatform(ev, desc) == "telegram" {
		sig.done, sig.failed = EmojiDoneTelegram, EmojiFailedTelegram
	}
	return sig
}

// ackPlatform names the platform whose reaction vocabulary applies: the
// event's own, else the chat's as last seen, else the destination's; the
// placeholder "relay" names none.
func (s *Service) ackPlatform(ev pluginapi.MessageEvent, desc relay.Descriptor) string {
	candidates := []string{ev.Source.Platform, "", desc.Platform}
	if info, ok := s.mem.chat("", ev.Source.ChatID); ok {
		candidates[1] = info.platform
	}
	for _, p := range candidates {
		if p != "" && p != relay.RelayPlatform {
			return p
		}
	}
	return ""
}

// runSignals sends one event's signals until its delivery's outcome comes.
func (s *Service) runSignals(sig signals, outcome <-chan error) {
	defer s.wg.Done()
	if sig.react {
		s.signal(sig, s.reactAction(sig, EmojiWorking, false))
	}
	var err error
	var tick <-chan time.Time
	if sig.typing {
		t := time.NewTimer(s.cfg.TypingDelay)
		defer t.Stop()
		tick = t.C
	wait:
		for {
			select {
			case err = <-outcome:
				break wait
			case <-tick:
				s.signal(sig, s.typingAction(sig))
				t.Reset(s.cfg.TypingInterval)
			case <-s.bg.Done():
				return
			}
		}
	} else {
		select {
		case err = <-outcome:
		case <-s.bg.Done():
			return
		}
	}
	if sig.react {
		s.signal(sig, s.reactAction(sig, EmojiWorking, true))
		emoji := sig.done
		if err != nil {
			emoji = sig.failed
		}
		s.signal(sig, s.reactAction(sig, emoji, false))
	}
}

func (s *Service) reactAction(sig signals, emoji string, remove bool) *action {
	return &action{op: OpReact, platform: sig.platform, fields: map[string]any{
		"op": OpReact, "chat_id": sig.chatID, "message_id": sig.messageID, "emoji": emoji,
		"remove": remove, "metadata": cloneMap(sig.metadata),
	}}
}

func (s *Service) typingAction(sig signals) *action {
	return &action{op: OpTyping, platform: sig.platform, fields: map[string]any{
		"op": OpTyping, "chat_id": sig.chatID, "metadata": cloneMap(sig.metadata),
	}}
}

// signal sends one lifecycle frame; failures are logged, never returned
// (a decline by the connector's egress guard at WARN, anything else at
// DEBUG: the signals are cosmetic).
func (s *Service) signal(sig signals, a *action) {
	o := s.run(s.bg, a)
	if o.status == 200 {
		return
	}
	if o.res.EgressDeclined() {
		s.log.Warn("lifecycle signal declined by the connector", "op", a.op, "chat_id", sig.chatID, "error", o.res.Error)
		return
	}
	s.log.Debug("lifecycle signal not delivered", "op", a.op, "chat_id", sig.chatID, "status", o.status, "error", o.res.Error)
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
