package pluginapi

import "strings"

// SessionKey derives the session key of a source, exactly as the connector
// and the reference gateway do (docs/events.md, Session keys), because the
// connector binds follow-up capabilities to this key:
//
//	<ns>:<platform>:<chat_type>[:<chat_id>] then
//	  non-DM: [:<thread_id>][:<user_id> only outside threads]
//	  DM:     [:<user_id> only when chat_id is empty][:<thread_id>]
//
// ns is "agent:main" for no profile or the profile "default",
// "agent:main~" for a profile literally named "main", and "agent:<profile>"
// otherwise. The guild (scope) is deliberately not part of the key.
func SessionKey(src SessionSource) string {
	parts := make([]string, 0, 6)
	parts = append(parts, SessionNamespace(src.Profile), src.Platform, src.ChatType)
	if src.ChatID != "" {
		parts = append(parts, src.ChatID)
	}
	if src.ChatType == ChatTypeDM {
		if src.ChatID == "" && src.UserID != "" {
			parts = append(parts, src.UserID)
		}
		if src.ThreadID != "" {
			parts = append(parts, src.ThreadID)
		}
		return strings.Join(parts, ":")
	}
	if src.ThreadID != "" {
		parts = append(parts, src.ThreadID)
	} else if src.UserID != "" {
		parts = append(parts, src.UserID)
	}
	return strings.Join(parts, ":")
}

// SessionNamespace returns the "agent:<ns>" prefix of a session key for a
// profile; see SessionKey.
func SessionNamespace(profile string) string {
	switch profile {
	case "", "default":
		return "agent:main"
	case "main":
		return "agent:main~"
	}
	return "agent:" + profile
}

// ProfileFromSessionKey returns the profile a session key's namespace names:
// "" for the default namespace, "main" for "agent:main~", else the namespace.
// It returns "" for a key that does not start with "agent:".
func ProfileFromSessionKey(key string) string {
	rest, ok := strings.CutPrefix(key, "agent:")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, ":")
	switch ns {
	case "main":
		return ""
	case "main~":
		return "main"
	}
	return ns
}
