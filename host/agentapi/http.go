package agentapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HTTP limits of the agent API.
const (
	// MaxRequestBytes is the largest JSON request body (1 MiB): far above
	// any message a platform takes, and the connector's own frame budget.
	MaxRequestBytes = 1 << 20
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request: a 25 MiB media upload
	// at 250 KiB/s.
	ReadTimeout = 2 * time.Minute
	// WriteTimeout bounds a request from its headers to the end of the
	// answer: several 30 s outbound waits for a split send, or a 30 s
	// media download streamed back.
	WriteTimeout = 3 * time.Minute
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout = 2 * time.Minute
	// socketProbeTimeout bounds the probe of an existing unix socket.
	socketProbeTimeout = time.Second
)

// handler serves the agent API routes.
type handler struct {
	s        *Service
	tokenSum [sha256.Size]byte
	noToken  bool
}

// NewHandler returns the HTTP front end of s: POST /v1/actions, /v1/reply,
// /v1/interrupt; GET and POST /v1/media; GET /v1/status. Every request must
// carry "Authorization: Bearer <token>" (compared in constant time; an
// empty token refuses everything) or is answered 401; an unknown path is
// 404 and a wrong method 405. JSON bodies over MaxRequestBytes, media
// uploads over MaxMediaBytes, are 413. Every answer but a media download is
// a JSON object.
func NewHandler(s *Service, token []byte) http.Handler {
	return &handler{s: s, tokenSum: sha256.Sum256(token), noToken: len(token) == 0}
}

// routes maps each path to the methods it takes.
var routes = map[string][]string{
	"/v1/actions":   {http.MethodPost},
	"/v1/reply":     {http.MethodPost},
	"/v1/interrupt": {http.MethodPost},
	"/v1/media":     {http.MethodGet, http.MethodPost},
	"/v1/status":    {http.MethodGet},
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.s.log.Warn("agent API request refused: missing or wrong bearer token",
			"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="relay-host agent API"`)
		writeJSON(w, http.StatusUnauthorized, failure("missing or wrong bearer token (Authorization: Bearer <token>)"))
		return
	}
	methods, ok := routes[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, failure(fmt.Sprintf("no such endpoint: %s", r.URL.Path)))
		return
	}
	allowed := false
	for _, m := range methods {
		allowed = allowed || r.Method == m
	}
	if !allowed {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, failure(fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(methods, " or "), r.Method)))
		return
	}
	switch {
	case r.URL.Path == "/v1/status":
		writeJSON(w, http.StatusOK, h.s.Status())
	case r.URL.Path == "/v1/media" && r.Method == http.MethodGet:
		h.s.serveMediaGet(w, r)
	case r.URL.Path == "/v1/media":
		h.s.serveMediaPost(w, r)
	default:
		h.call(w, r, strings.TrimPrefix(r.URL.Path, "/v1/"))
	}
}

// authorized compares the request's bearer token with the expected one in
// constant time (over SHA-256 digests, so the length does not leak either).
func (h *handler) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || h.noToken {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

// call reads a JSON body and answers it through Service.Call.
func (h *handler) call(w http.ResponseWriter, r *http.Request, endpoint string) {
	if r.ContentLength > MaxRequestBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, failure(fmt.Sprintf("body is over the %d-byte limit", MaxRequestBytes)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, failure(fmt.Sprintf("body is over the %d-byte limit", MaxRequestBytes)))
			return
		}
		writeJSON(w, http.StatusBadRequest, failure("read body: "+err.Error()))
		return
	}
	start := time.Now()
	status, answer := h.s.Call(r.Context(), endpoint, body)
	if h.s.log.IsDebug() {
		h.s.log.Debug("agent API request", "endpoint", endpoint, "status", status, "took", time.Since(start))
	}
	writeJSON(w, status, answer)
}

// writeJSON writes a JSON answer with its status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"success":false,"error":"cannot encode the answer"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// NewServer returns an HTTP server for the agent API handler with the
// timeouts above.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// Errors of Listen for a unix socket address.
var (
	// ErrSocketDir means the socket's directory does not exist.
	ErrSocketDir = errors.New("the socket's directory does not exist")
	// ErrNotSocket means something other than a socket is at the path.
	ErrNotSocket = errors.New("a file that is not a socket is in the way")
	// ErrSocketInUse means another process serves on the socket.
	ErrSocketInUse = errors.New("another process is listening on the socket")
)

// Listen listens on an agent API address: "host:port" (TCP), or
// "unix:/path" for a unix socket created with mode 0600 (only this user may
// connect). A stale socket file left by a process that died is removed; a
// live one, or any other file, is an error, and so is a missing directory.
func Listen(addr string) (net.Listener, error) {
	p, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("agent API: listen on %s: %w", addr, err)
		}
		return l, nil
	}
	if p == "" {
		return nil, fmt.Errorf("agent API: listen on %q: the unix socket path is empty", addr)
	}
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("agent API: listen on %s: %w", addr, ErrSocketDir)
	}
	if fi, err := os.Lstat(p); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("agent API: listen on %s: %w", addr, ErrNotSocket)
		}
		if c, err := net.DialTimeout("unix", p, socketProbeTimeout); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("agent API: listen on %s: %w", addr, ErrSocketInUse)
		}
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("agent API: remove the stale socket %s: %w", p, err)
		}
	}
	l, err := net.Listen("unix", p)
	if err != nil {
		return nil, fmt.Errorf("agent API: listen on %s: %w", addr, err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("agent API: make %s private: %w", p, err)
	}
	return l, nil
}
