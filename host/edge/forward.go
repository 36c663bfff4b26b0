package edge

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// ForwardPathPrefix is the dev route for any platform:
// POST /forward/<platform>/<bot_id>/<path…> forwards the request as it
// came (method, headers, body; the path is /<path…> with the query) to the
// plugin for <platform>, as the connector forwards a webhook of a platform
// it has no edge rules for. The edge answers 202 at once with the forward's
// buffer id; what the plugin and the agent make of it is printed by dev.
const ForwardPathPrefix = "/forward/"

// ForwardURL returns the URL of the dev route for platform, botID and path.
func (e *Edge) ForwardURL(platform, botID, path string) string {
	return e.URL() + ForwardPathPrefix + url.PathEscape(platform) + "/" + url.PathEscape(botID) + "/" + strings.TrimPrefix(path, "/")
}

// serveForward serves the dev route for any platform.
func (e *Edge) serveForward(w http.ResponseWriter, r *http.Request) {
	platform, botID := r.PathValue("platform"), r.PathValue("botId")
	if platform == "" {
		e.refuse(w, r, platform, http.StatusNotFound, "want POST /forward/<platform>/<bot_id>/<path…>")
		return
	}
	body, ok := e.readBody(w, r, platform)
	if !ok {
		return
	}
	path := "/" + r.PathValue("path")
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	e.emit(Received{Platform: platform, BotID: botID, Path: path, Bytes: len(body)})
	f := pluginapi.Forward{Platform: platform, BotID: botID, Method: r.Method, Path: path,
		Headers: forwardHeaders(r, len(body)), Body: body, Profile: e.profile(r)}
	d := Delivery{Platform: platform, BotID: botID, Path: path, Profile: f.Profile}
	var live bool
	d.BufferID, live = e.srv.Enqueue(f)
	answer, _ := json.Marshal(map[string]string{"forwarded": d.BufferID})
	e.answer(w, "application/json", string(answer))
	e.emit(Answered{Platform: platform, Status: http.StatusOK, Body: string(answer), Meaning: "accepted for the plugin"})
	if live {
		e.emit(Forwarded{d})
	} else {
		e.emit(Buffered{d})
	}
}
