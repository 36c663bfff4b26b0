package agentapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/relayhost/relay-host/pluginapi"
)

// Prompt id shape: "<nonce>.<id>", both lower-case hex.
const (
	// promptNonceBytes is the size of the per-process nonce that prefixes
	// every prompt id this process mints (6 hex characters), so that a
	// sibling gateway of the same tenant, which the connector also hands
	// the button press to, can tell the prompt is not its own.
	promptNonceBytes = 3
	// promptIDBytes is the random part of a minted prompt id (8 hex).
	promptIDBytes = 4
)

// openPrompt is a prompt waiting for its answer.
type openPrompt struct {
	chatID  string
	expires time.Time
}

// prompts keeps the open prompts and the recently answered ones.
type prompts struct {
	// mu makes answering a prompt atomic: of two answers racing for one
	// open prompt, exactly one is delivered.
	mu       sync.Mutex
	nonce    string
	rand     io.Reader
	now      func() time.Time
	open     *lru.Cache[string, openPrompt]
	resolved *lru.Cache[string, struct{}]
}

func newPrompts(size int, r io.Reader, now func() time.Time) (*prompts, error) {
	nonce, err := newNonce(r, promptNonceBytes)
	if err != nil {
		return nil, fmt.Errorf("prompt nonce: %w", err)
	}
	open, err := lru.New[string, openPrompt](size)
	if err != nil {
		return nil, fmt.Errorf("open prompts: %w", err)
	}
	resolved, err := lru.New[string, struct{}](ResolvedPromptMemory)
	if err != nil {
		return nil, fmt.Errorf("answered prompts: %w", err)
	}
	return &prompts{nonce: nonce, rand: r, now: now, open: open, resolved: resolved}, nil
}

// mint returns a new prompt id: "<nonce>.<8 hex>".
func (p *prompts) mint() (string, error) {
	id, err := newNonce(p.rand, promptIDBytes)
	if err != nil {
		return "", err
	}
	return p.nonce + "." + id, nil
}

// count returns how many prompts are open and not expired.
func (p *prompts) count() int {
	now := p.now()
	n := 0
	for _, id := range p.open.Keys() {
		if op, ok := p.open.Peek(id); ok && now.Before(op.expires) {
			n++
		}
	}
	return n
}

// promptTimeout reads a prompt action's timeout_s (validated positive),
// DefaultPromptTimeout when absent, capped so it cannot overflow.
func promptTimeout(v any) time.Duration {
	n, ok := v.(json.Number)
	if !ok {
		return DefaultPromptTimeout
	}
	f, err := n.Float64()
	if err != nil || !(f > 0) {
		return DefaultPromptTimeout
	}
	if f >= math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(f * float64(time.Second))
}

// sendPrompt sends a prompt action: it mints a prompt_id when the action has
// none, keeps the prompt open until its timeout, and answers the connector's
// result plus prompt_id. A prompt the connector definitely refused is not
// kept open (it was never shown); an ambiguous one is.
func (s *Service) sendPrompt(ctx context.Context, a *action, r route) outcome {
	id := stringOf(a.fields["prompt_id"])
	if id == "" {
		var err error
		if id, err = s.prompts.mint(); err != nil {
			s.log.Error("cannot mint a prompt id", "error", err)
			return local(502, failure("cannot mint a prompt id: "+err.Error()))
		}
		a.fields["prompt_id"] = id
	}
	if _, ok := a.fields["prompt_kind"]; !ok {
		a.fields["prompt_kind"] = DefaultPromptKind
	}
	s.prompts.open.Add(id, openPrompt{
		chatID:  stringOf(a.fields["chat_id"]),
		expires: s.prompts.now().Add(promptTimeout(a.fields["timeout_s"])),
	})
	res := s.link.Outbound(ctx, a.fields, r.platform, r.botID)
	if !res.Success && !res.Ambiguous {
		s.prompts.open.Remove(id)
	}
	status, answer := resultAnswer(res)
	if _, ok := answer["prompt_id"]; !ok {
		answer["prompt_id"] = id
	}
	return outcome{status: status, answer: answer, parts: 1, delivered: boolInt(res.Success), res: res}
}

// DefaultPromptKind is the prompt_kind of a prompt action that names none:
// a choice between buttons.
const DefaultPromptKind = "approval"

// Admit decides, before delivery, what to do with an event. It returns true
// to deliver the event to the agent. An event that answers a prompt
// (prompt_response) is delivered only when it answers a prompt this process
// holds open, which it then closes. The answer is swallowed (the host still
// acks the event) when the prompt id carries another process's nonce (the
// connector hands a button press to every gateway of the tenant), or is a
// repeat of one of the last ResolvedPromptMemory answers (a double tap, a
// redelivery); when the prompt is this process's but expired or no longer
// known, the chat gets PromptExpiredText and the answer is swallowed. A
// prompt id without this process's nonce that is not open here (an id the
// agent chose itself, after a restart) counts as another process's.
func (s *Service) Admit(ctx context.Context, ev pluginapi.MessageEvent) (deliver bool) {
	pr := ev.PromptResponse
	if pr == nil || pr.PromptID == "" || pr.OptionID == "" {
		return true
	}
	p := s.prompts
	id := pr.PromptID
	p.mu.Lock()
	op, open := p.open.Peek(id)
	if open {
		p.open.Remove(id)
		if p.now().Before(op.expires) {
			p.resolved.Add(id, struct{}{})
			p.mu.Unlock()
			return true
		}
	}
	repeat := !open && p.resolved.Contains(id)
	p.mu.Unlock()
	if open {
		s.log.Info("prompt answered after it expired", "prompt_id", id)
		s.promptExpired(ctx, ev)
		return false
	}
	if repeat {
		s.log.Debug("prompt answer repeated; swallowed", "prompt_id", id)
		return false
	}
	if nonce, _, ok := strings.Cut(id, "."); !ok || nonce != p.nonce {
		s.log.Debug("prompt answer for another gateway; swallowed", "prompt_id", id)
		return false
	}
	s.log.Info("prompt answer for an expired or unknown prompt", "prompt_id", id)
	s.promptExpired(ctx, ev)
	return false
}

// promptExpired tells the chat an answered prompt no longer waits.
func (s *Service) promptExpired(ctx context.Context, ev pluginapi.MessageEvent) {
	if ev.Source.ChatID == "" {
		return
	}
	md := map[string]any{}
	if ev.Source.ThreadID != "" {
		md["thread_id"] = ev.Source.ThreadID
	}
	a := &action{op: OpSend, fields: map[string]any{
		"op": OpSend, "chat_id": ev.Source.ChatID, "content": PromptExpiredText,
		"reply_to": nil, "metadata": md,
	}}
	if s.egressPlatform(ev.Source.Platform) != "" {
		a.platform = ev.Source.Platform
	}
	if o := s.run(ctx, a); o.status != 200 {
		s.log.Warn("prompt expiry notice not delivered", "chat_id", ev.Source.ChatID, "status", o.status,
			"error", o.res.Error)
	}
}
