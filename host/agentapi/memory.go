package agentapi

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/relayhost/relay-host/pluginapi"
)

// chatInfo is what relay-host remembers of a chat from its last event: the
// routing facts an action addressed to the chat needs.
type chatInfo struct {
	platform   string
	botID      string
	scopeID    string
	userID     string
	profile    string
	sessionKey string
}

// eventRef is what relay-host keeps of a delivered event so that
// POST /v1/reply can answer it later: where a reply must go, never its text.
type eventRef struct {
	sessionKey string
	egressKind string
	platform   string
	botID      string
	chatID     string
	threadID   string
	messageID  string
}

// memory holds the chat memory and the event registry. Every cache is a
// bounded, thread-safe LRU.
type memory struct {
	// chats maps platform+"\x00"+chat_id to what the chat's last event said.
	chats *lru.Cache[string, chatInfo]
	// lastPlatform maps a chat_id to the platform it was last seen on, for
	// actions that name a chat but no platform.
	lastPlatform *lru.Cache[string, string]
	// events maps an event_id to its reply facts.
	events *lru.Cache[string, eventRef]
	// sessions maps a session key to the event_id of its latest event.
	sessions *lru.Cache[string, string]
}

func newMemory(chats, events int) (*memory, error) {
	m := &memory{}
	var err error
	if m.chats, err = lru.New[string, chatInfo](chats); err != nil {
		return nil, fmt.Errorf("chat memory: %w", err)
	}
	if m.lastPlatform, err = lru.New[string, string](chats); err != nil {
		return nil, fmt.Errorf("chat memory: %w", err)
	}
	if m.events, err = lru.New[string, eventRef](events); err != nil {
		return nil, fmt.Errorf("event memory: %w", err)
	}
	if m.sessions, err = lru.New[string, string](events); err != nil {
		return nil, fmt.Errorf("event memory: %w", err)
	}
	return m, nil
}

func chatKey(platform, chatID string) string { return platform + "\x00" + chatID }

// remember records an event: its chat (when it has one) and, under eventID
// (when given), its reply facts.
func (m *memory) remember(ev pluginapi.MessageEvent, eventID, botID string) {
	src := ev.Source
	if src.ChatID != "" {
		info := chatInfo{
			platform:   src.Platform,
			botID:      botID,
			scopeID:    src.ScopeID,
			userID:     src.UserID,
			profile:    src.Profile,
			sessionKey: ev.SessionKey,
		}
		m.chats.Add(chatKey(src.Platform, src.ChatID), info)
		m.lastPlatform.Add(src.ChatID, src.Platform)
	}
	if eventID == "" {
		return
	}
	m.events.Add(eventID, refOf(ev, botID))
	if ev.SessionKey != "" {
		m.sessions.Add(ev.SessionKey, eventID)
	}
}

// refOf returns the reply facts of an event.
func refOf(ev pluginapi.MessageEvent, botID string) eventRef {
	msgID := ev.MessageID
	if msgID == "" {
		msgID = ev.Source.MessageID
	}
	return eventRef{
		sessionKey: ev.SessionKey,
		egressKind: ev.EgressKind,
		platform:   ev.Source.Platform,
		botID:      botID,
		chatID:     ev.Source.ChatID,
		threadID:   ev.Source.ThreadID,
		messageID:  msgID,
	}
}

// chat returns what is remembered of chatID on platform, or on the
// platform it was last seen on when platform is "".
func (m *memory) chat(platform, chatID string) (chatInfo, bool) {
	if chatID == "" {
		return chatInfo{}, false
	}
	if platform == "" {
		p, ok := m.lastPlatform.Get(chatID)
		if !ok {
			return chatInfo{}, false
		}
		platform = p
	}
	return m.chats.Get(chatKey(platform, chatID))
}

// event returns the reply facts of an event by its event_id.
func (m *memory) event(eventID string) (eventRef, bool) { return m.events.Get(eventID) }

// session returns the reply facts of a session's latest event.
func (m *memory) session(sessionKey string) (eventRef, bool) {
	id, ok := m.sessions.Get(sessionKey)
	if !ok {
		return eventRef{}, false
	}
	return m.events.Get(id)
}
