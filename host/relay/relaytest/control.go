package relaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relayhost/relay-host/host/internal/devconnector"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/internal/notify"
)

// The control-plane endpoints of the test connector: the plain HTTP
// endpoints beside /relay that enroll, provision and policy requests go
// to (docs/protocol.md, Control plane). Each request is recorded; each
// answer is programmable with SetControl, and by default is what a
// well-behaved connector answers (see SetControl).

// Control-plane paths.
const (
	EnrollPath    = "/relay/enroll"
	ProvisionPath = "/relay/provision"
	PolicyPath    = "/relay/policy"
)

// DefaultIssuedSecret is the secret the default enroll and provision
// answers issue when Options.Secrets is empty.
const DefaultIssuedSecret = "relaytest-issued-secret"

// maxControlBody caps a recorded control-plane request body; the real
// requests are a few hundred bytes.
const maxControlBody = 1 << 20

// ControlRequest is one control-plane request the server received.
type ControlRequest struct {
	// Path is the endpoint: EnrollPath, ProvisionPath or PolicyPath.
	Path string
	// Header is the request's header (Authorization included: do not log
	// it).
	Header http.Header
	// Body is the request body as sent.
	Body []byte
	// JSON is the body decoded as a JSON object; nil when it is not one.
	JSON map[string]any
	// Keys are the body's top-level keys in the order sent.
	Keys []string
}

// Bearer returns the request's Authorization bearer, "" when there is
// none.
func (r ControlRequest) Bearer() string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

// ControlReply says how to answer one control-plane request.
type ControlReply struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Body is sent as is, as application/json; "" sends no body.
	Body string
	// Hang never answers: the request is held until the client gives up
	// or the server closes.
	Hang bool
}

// ControlFunc decides the answer to one control-plane request. It runs on
// the request's goroutine and may block only as long as the test allows.
type ControlFunc func(ControlRequest) ControlReply

// JSONReply is a ControlReply with status and v encoded as JSON.
func JSONReply(status int, v any) ControlReply {
	b, err := json.Marshal(v)
	if err != nil {
		return ControlReply{Status: http.StatusInternalServerError, Body: fmt.Sprintf(`{"error":%q}`, err.Error())}
	}
	return ControlReply{Status: status, Body: string(b)}
}

// controlState holds the control-plane answers, the requests received
// and the wake calls made.
type controlState struct {
	mu       sync.Mutex
	answers  map[string]ControlFunc
	requests []ControlRequest
	wakes    []WakeResult
	issued   bool // the default provision answer issued its secret
	changed  notify.Signal
}

// registerControl mounts the control-plane endpoints.
func (s *Server) registerControl() {
	for _, path := range []string{EnrollPath, ProvisionPath, PolicyPath} {
		s.conn.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) { s.serveControl(path, w, r) })
	}
}

// SetControl programs the answers of the control-plane endpoint at path
// (EnrollPath, ProvisionPath or PolicyPath); nil restores the default:
//
//   - enroll: 200 {secret, deliveryKey, tenant, gatewayId}, the secret being
//     Options.Secrets[0] (DefaultIssuedSecret when none) and the gatewayId
//     the one asked for;
//   - provision: the first request gets 200 {secret, deliveryKey, tenant,
//     gatewayId, routeKeys:[]}, every later one 200 {secretIssued:false,
//     tenant, gatewayId, routeKeys:[]}, as the connector does;
//   - policy: 200 {"ok":true} when the bearer is an upgrade token that
//     verifies against Options.Secrets (for Options.GatewayID when set),
//     401 otherwise.
func (s *Server) SetControl(path string, fn ControlFunc) {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	if s.ctl.answers == nil {
		s.ctl.answers = map[string]ControlFunc{}
	}
	s.ctl.answers[path] = fn
}

// ControlRequests returns the requests received at path, in order.
func (s *Server) ControlRequests(path string) []ControlRequest {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	var out []ControlRequest
	for _, r := range s.ctl.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// WaitControl waits until at least n requests have arrived at path and
// returns them.
func (s *Server) WaitControl(ctx context.Context, path string, n int) ([]ControlRequest, error) {
	err := s.ctl.changed.Wait(ctx, func() bool { return len(s.ControlRequests(path)) >= n })
	if err != nil {
		return nil, fmt.Errorf("relaytest: wait for %d requests at %s: %w", n, path, err)
	}
	return s.ControlRequests(path), nil
}

func (s *Server) serveControl(path string, w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxControlBody))
	req := ControlRequest{Path: path, Header: r.Header.Clone(), Body: body}
	req.JSON, req.Keys = decodeObject(body)
	s.ctl.mu.Lock()
	s.ctl.requests = append(s.ctl.requests, req)
	fn := s.ctl.answers[path]
	s.ctl.mu.Unlock()
	s.ctl.changed.Notify()
	if fn == nil {
		fn = s.defaultControl
	}
	reply := fn(req)
	if reply.Hang {
		<-r.Context().Done()
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	if reply.Body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply.Body)
}

// defaultControl is a well-behaved connector's answer (see SetControl).
func (s *Server) defaultControl(req ControlRequest) ControlReply {
	secret := DefaultIssuedSecret
	if len(s.opts.Secrets) > 0 {
		secret = s.opts.Secrets[0]
	}
	gatewayID, _ := req.JSON["gatewayId"].(string)
	switch req.Path {
	case EnrollPath:
		return JSONReply(http.StatusOK, map[string]any{"secret": secret, "deliveryKey": "dk-relaytest", "tenant": "relaytest", "gatewayId": gatewayID})
	case ProvisionPath:
		s.ctl.mu.Lock()
		first := !s.ctl.issued
		s.ctl.issued = true
		s.ctl.mu.Unlock()
		if first {
			return JSONReply(http.StatusOK, map[string]any{"secret": secret, "deliveryKey": "dk-relaytest", "tenant": "relaytest", "gatewayId": gatewayID, "routeKeys": []string{}})
		}
		return JSONReply(http.StatusOK, map[string]any{"secretIssued": false, "tenant": "relaytest", "gatewayId": gatewayID, "routeKeys": []string{}})
	case PolicyPath:
		if len(s.opts.Secrets) == 0 {
			return JSONReply(http.StatusOK, map[string]any{"ok": true})
		}
		now := time.Now()
		if s.opts.Now != nil {
			now = s.opts.Now()
		}
		payload, ok := relay.VerifyToken(req.Bearer(), s.opts.Secrets, now)
		if !ok || (s.opts.GatewayID != "" && payload != s.opts.GatewayID) {
			return JSONReply(http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
		}
		return JSONReply(http.StatusOK, map[string]any{"ok": true})
	}
	return ControlReply{Status: http.StatusNotFound}
}

// decodeObject decodes a JSON object body and lists its keys in order;
// nil, nil when the body is not an object.
func decodeObject(body []byte) (map[string]any, []string) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil || m == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return m, nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := tok.(string)
		keys = append(keys, key)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			break
		}
	}
	return m, keys
}

// WakeResult is the outcome of one call the server made to the wake URL.
type WakeResult = devconnector.WakeResult

// SetWakeURL makes the server call url (a payload-free, unsigned GET), as
// the connector does, when a delivery is buffered (Enqueue) for the
// gateway after its going_idle was acknowledged, and until its next
// handshake: at most one call per devconnector.WakeInterval, requests in
// between coalescing. Every call is recorded (Wakes).
func (s *Server) SetWakeURL(url string) {
	s.conn.SetWake(url, func(r WakeResult) {
		s.ctl.mu.Lock()
		s.ctl.wakes = append(s.ctl.wakes, r)
		s.ctl.mu.Unlock()
		s.ctl.changed.Notify()
	})
}

// Wakes returns the wake calls made so far, in order.
func (s *Server) Wakes() []WakeResult {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	return append([]WakeResult(nil), s.ctl.wakes...)
}

// WaitWakes waits until at least n wake calls have been made.
func (s *Server) WaitWakes(ctx context.Context, n int) error {
	err := s.ctl.changed.Wait(ctx, func() bool { return len(s.Wakes()) >= n })
	if err != nil {
		return fmt.Errorf("relaytest: wait for %d wake calls: %w", n, err)
	}
	return nil
}
