package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Media plane limits (docs/protocol.md, Media plane).
const (
	// MaxMediaBytes is the largest file the media plane carries either way:
	// the connector's own cap (25 MiB), checked here first so a transfer
	// fails fast instead of round-tripping to the connector's 413.
	MaxMediaBytes = 25 << 20
	// MediaTimeout bounds one media request to the connector, body
	// included.
	MediaTimeout = 30 * time.Second
	// MaxMediaFilename is the longest X-Media-Filename the connector takes,
	// in characters.
	MaxMediaFilename = 255
	// mediaPath is where the connector hosts files, under its base.
	mediaPath = "/relay/media"
	// maxUploadAnswer bounds the connector's JSON answer to an upload.
	maxUploadAnswer = 64 << 10
)

// mediaPlane talks to the connector's /relay/media routes with the bearer.
type mediaPlane struct {
	base      *url.URL
	baseStr   string // the base without its trailing slashes
	bearer    func() string
	userAgent string
	client    *http.Client
	max       int64 // MaxMediaBytes; smaller in tests
}

func newMediaPlane(base string, bearer func() string, userAgent string, client *http.Client) (*mediaPlane, error) {
	baseStr := strings.TrimRight(base, "/")
	u, err := url.Parse(baseStr)
	if err != nil {
		return nil, fmt.Errorf("connector base %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("connector base %q: want http(s)://host[:port][/path]", base)
	}
	c := &http.Client{}
	if client != nil {
		cc := *client
		c = &cc
	}
	// Never follow a redirect: the bearer must only ever go to the
	// connector's own media path, and a 3xx is answered as an error.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = MediaTimeout
	return &mediaPlane{base: u, baseStr: baseStr, bearer: bearer, userAgent: userAgent, client: c, max: MaxMediaBytes}, nil
}

// hosted parses raw and reports whether it names a connector-hosted file:
// the same scheme, host and effective port as the connector base, and a
// path under <base path>/relay/media/ with no dot segments. Only such URLs
// are fetched with the bearer; anything else is refused, so the agent API
// is no open proxy.
func (m *mediaPlane) hosted(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.User != nil {
		return nil, false
	}
	if !strings.EqualFold(u.Scheme, m.base.Scheme) || !strings.EqualFold(u.Hostname(), m.base.Hostname()) ||
		effectivePort(u) != effectivePort(m.base) {
		return nil, false
	}
	prefix := strings.TrimRight(m.base.Path, "/") + mediaPath + "/"
	if !strings.HasPrefix(u.Path, prefix) || len(u.Path) == len(prefix) || path.Clean(u.Path) != u.Path {
		return nil, false
	}
	u.Fragment, u.RawFragment = "", ""
	return u, true
}

// effectivePort returns a URL's port, the scheme's default when it names
// none.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// serveMediaGet answers GET /v1/media?url=URL: it fetches a
// connector-hosted file with the bearer and streams it back.
func (s *Service) serveMediaGet(w http.ResponseWriter, r *http.Request) {
	m := s.media
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, failure("the media plane is not configured (no connector base)"))
		return
	}
	raw := r.URL.Query().Get("url")
	if raw == "" {
		writeJSON(w, http.StatusBadRequest, failure("url is required: GET /v1/media?url=<connector-hosted media URL>"))
		return
	}
	u, ok := m.hosted(raw)
	if !ok {
		writeJSON(w, http.StatusBadRequest, failure(fmt.Sprintf(
			"url: not a connector-hosted media URL (want %s%s/…); fetch other URLs directly", m.baseStr, mediaPath)))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, failure("url: "+err.Error()))
		return
	}
	req.Header.Set("Authorization", "Bearer "+m.bearer())
	if m.userAgent != "" {
		req.Header.Set("User-Agent", m.userAgent)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		s.log.Warn("media download failed", "error", err)
		writeJSON(w, http.StatusBadGateway, failure("fetch media from the connector: "+err.Error()))
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		writeJSON(w, http.StatusBadGateway, failure(fmt.Sprintf("the connector answered %d for the media URL; redirects are not followed", resp.StatusCode)))
		return
	case resp.StatusCode == http.StatusNotFound:
		writeJSON(w, http.StatusNotFound, failure("the connector has no such media (its files expire after about an hour)"))
		return
	case resp.StatusCode != http.StatusOK:
		writeJSON(w, http.StatusBadGateway, failure(fmt.Sprintf("the connector answered %d for the media URL", resp.StatusCode)))
		return
	}
	if resp.ContentLength > m.max {
		writeJSON(w, http.StatusRequestEntityTooLarge, failure(fmt.Sprintf(
			"the media is %d bytes, over the %d-byte cap", resp.ContentLength, m.max)))
		return
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Disposition"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", fmt.Sprint(resp.ContentLength))
	}
	w.WriteHeader(http.StatusOK)
	n, err := io.Copy(w, io.LimitReader(resp.Body, m.max))
	if err == nil && n == m.max {
		var one [1]byte
		if k, _ := io.ReadFull(resp.Body, one[:]); k > 0 {
			err = fmt.Errorf("the media is over the %d-byte cap", m.max)
		}
	}
	if err != nil {
		// The status is sent: cut the transfer, so the agent sees a broken
		// body rather than a short file.
		s.log.Warn("media download cut", "bytes", n, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// serveMediaPost answers POST /v1/media: it streams the body to the
// connector's POST {base}/relay/media and answers {id, size, url}.
func (s *Service) serveMediaPost(w http.ResponseWriter, r *http.Request) {
	m := s.media
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, failure("the media plane is not configured (no connector base)"))
		return
	}
	if r.ContentLength > m.max {
		writeJSON(w, http.StatusRequestEntityTooLarge, failure(fmt.Sprintf("body is over the %d-byte media cap", m.max)))
		return
	}
	if r.ContentLength == 0 {
		writeJSON(w, http.StatusBadRequest, failure("body is empty: send the file's bytes"))
		return
	}
	name := r.Header.Get("X-Media-Filename")
	if n := utf8.RuneCountInString(name); n > MaxMediaFilename {
		writeJSON(w, http.StatusBadRequest, failure(fmt.Sprintf("X-Media-Filename: at most %d characters, got %d", MaxMediaFilename, n)))
		return
	}
	body := &capReader{r: http.MaxBytesReader(w, r.Body, m.max)}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, m.baseStr+mediaPath, body)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, failure("media upload: "+err.Error()))
		return
	}
	req.ContentLength = r.ContentLength
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	req.Header.Set("Content-Type", ct)
	if name != "" {
		req.Header.Set("X-Media-Filename", name)
	}
	if m.userAgent != "" {
		req.Header.Set("User-Agent", m.userAgent)
	}
	req.Header.Set("Authorization", "Bearer "+m.bearer())
	resp, err := m.client.Do(req)
	if body.tooBig.Load() {
		writeJSON(w, http.StatusRequestEntityTooLarge, failure(fmt.Sprintf("body is over the %d-byte media cap", m.max)))
		if err == nil {
			resp.Body.Close()
		}
		return
	}
	if err != nil {
		s.log.Warn("media upload failed", "error", err)
		writeJSON(w, http.StatusBadGateway, failure("upload media to the connector: "+err.Error()))
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		writeJSON(w, http.StatusRequestEntityTooLarge, failure("the connector refused the media as too large"))
		return
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		writeJSON(w, http.StatusBadGateway, failure(fmt.Sprintf("the connector answered %d to the upload", resp.StatusCode)))
		return
	}
	var got struct {
		ID   json.RawMessage `json:"id"`
		Size json.Number     `json:"size"`
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxUploadAnswer))
	if err := dec.Decode(&got); err != nil {
		writeJSON(w, http.StatusBadGateway, failure("the connector's upload answer is not {id, size}: "+err.Error()))
		return
	}
	var id string
	if err := json.Unmarshal(got.ID, &id); err != nil || id == "" {
		writeJSON(w, http.StatusBadGateway, failure("the connector's upload answer has no id"))
		return
	}
	answer := map[string]any{"id": id, "url": m.baseStr + mediaPath + "/" + url.PathEscape(id)}
	if got.Size != "" {
		answer["size"] = got.Size
	} else {
		answer["size"] = json.Number(fmt.Sprint(body.n.Load()))
	}
	writeJSON(w, http.StatusOK, answer)
}

// capReader counts what it reads and notes when the body went over the cap.
// The HTTP transport reads it on a goroutine of its own, hence the atomics.
type capReader struct {
	r      io.Reader
	n      atomic.Int64
	tooBig atomic.Bool
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		c.tooBig.Store(true)
	}
	return n, err
}
