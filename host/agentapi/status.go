package agentapi

import (
	"github.com/relayhost/relay-host/host/relay"
)

// Destination is what a chat can take, from the descriptor of its platform:
// the "destination" object delivered with every event.
type Destination struct {
	// MaxMessageLength is the longest message, in LenUnit.
	MaxMessageLength int `json:"max_message_length"`
	// LenUnit is "chars" (code points) or "utf16" (UTF-16 code units).
	LenUnit string `json:"len_unit"`
	// MarkdownDialect names the markup ("plain", "discord", "markdown_v2", …).
	MarkdownDialect string `json:"markdown_dialect"`
	// SupportsEdit says whether sent messages can be edited.
	SupportsEdit bool `json:"supports_edit"`
	// SupportsThreads says whether the platform has threads.
	SupportsThreads bool `json:"supports_threads"`
	// SupportedOps are the ops the connector takes for the platform, the
	// legacy set already filled in when the descriptor lists none.
	SupportedOps []string `json:"supported_ops"`
}

// destinationOf reads a Destination from a descriptor.
func destinationOf(d relay.Descriptor) Destination {
	ops := d.SupportedOps // shared, read-only (relay.Client.Descriptor)
	if len(ops) == 0 {
		ops = relay.LegacyOps()
	}
	return Destination{
		MaxMessageLength: d.MaxMessageLength,
		LenUnit:          d.LenUnit,
		MarkdownDialect:  d.MarkdownDialect,
		SupportsEdit:     d.SupportsEdit,
		SupportsThreads:  d.SupportsThreads,
		SupportedOps:     ops,
	}
}

// Destination returns the destination object for events of platform: from
// the connector's descriptor for it, else the session default's; while the
// link has no descriptor at all, the contract's defaults (4096 code points,
// plain text, the legacy ops).
func (s *Service) Destination(platform string) Destination {
	if d, ok := s.descriptor(platform); ok {
		return destinationOf(d)
	}
	return destinationOf(relay.Descriptor{
		MaxMessageLength: relay.DefaultMaxMessageLength,
		LenUnit:          UnitChars,
		MarkdownDialect:  "plain",
	})
}

// Status returns the GET /v1/status body: the link's state, the fronted
// identities, the descriptor of each platform the connector described, the
// session default platform, how many prompts are open and how much the
// memories hold.
func (s *Service) Status() map[string]any {
	ids := make([]map[string]any, 0, len(s.cfg.Identities))
	descs := map[string]any{}
	for _, id := range s.cfg.Identities {
		ids = append(ids, map[string]any{"platform": id.Platform, "bot_id": id.BotID})
		if d, ok := s.link.Descriptor(id.Platform); ok {
			descs[id.Platform] = descriptorStatus(d)
		}
	}
	st := map[string]any{
		"state":             s.link.State().String(),
		"ready":             s.link.Ready(),
		"identities":        ids,
		"descriptors":       descs,
		"default_platform":  nil,
		"open_prompts":      s.prompts.count(),
		"chats_remembered":  s.mem.chats.Len(),
		"events_remembered": s.mem.events.Len(),
		"media":             s.media != nil,
	}
	if d, ok := s.link.DefaultDescriptor(); ok {
		st["default_platform"] = d.Platform
		if _, seen := descs[d.Platform]; !seen {
			descs[d.Platform] = descriptorStatus(d)
		}
	}
	return st
}

// descriptorStatus is a descriptor as /v1/status shows it: its destination
// object plus its label and draft streaming flag.
func descriptorStatus(d relay.Descriptor) map[string]any {
	dst := destinationOf(d)
	return map[string]any{
		"label":                    d.Label,
		"max_message_length":       dst.MaxMessageLength,
		"len_unit":                 dst.LenUnit,
		"markdown_dialect":         dst.MarkdownDialect,
		"supports_edit":            dst.SupportsEdit,
		"supports_threads":         dst.SupportsThreads,
		"supports_draft_streaming": d.SupportsDraftStreaming,
		"supported_ops":            dst.SupportedOps,
	}
}
