package devconnector

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// MediaPath is where the connector's media plane lives: uploads are POSTed
// to it, files are fetched from MediaPath + "/{id}" (docs/protocol.md,
// Media plane).
const MediaPath = "/relay/media"

// Media plane limits.
const (
	// MaxMediaBytes is the largest file the connector takes: the real
	// connector's cap of 25 MiB; a larger upload is answered 413.
	MaxMediaBytes = 25 << 20
	// MaxMediaFilename is the longest X-Media-Filename, in characters.
	MaxMediaFilename = 255
	// MediaStoreFiles and MediaStoreBytes bound what the dev connector
	// keeps in memory: at most 64 files and 64 MiB (two files at the cap,
	// or many small ones). The oldest file is forgotten first, as the
	// real connector's re-hosts expire after about an hour; a fetch of a
	// forgotten file is answered 404.
	MediaStoreFiles = 64
	MediaStoreBytes = 64 << 20
	// mediaIDBytes is the size of a minted file id (24 hex digits).
	mediaIDBytes = 12
)

// MediaRequest is one request to the media plane, as reported to
// Options.OnMedia.
type MediaRequest struct {
	// Upload is true for POST MediaPath, false for a download.
	Upload bool
	// ID is the file's id ("" when the request failed before one was
	// known).
	ID string
	// Size is the file's size in bytes (0 when refused).
	Size int
	// ContentType and Filename are the file's.
	ContentType, Filename string
	// Status is the HTTP status answered.
	Status int
	// Reason says why a request was refused ("" when served).
	Reason string
}

// mediaFile is one hosted file.
type mediaFile struct {
	data        []byte
	contentType string
	filename    string
}

// mediaStore keeps the hosted files, oldest first, within the store's
// bounds.
type mediaStore struct {
	max   int // the largest file taken: MaxMediaBytes; smaller in tests
	mu    sync.Mutex
	files map[string]mediaFile
	order []string
	bytes int
}

func newMediaStore() *mediaStore {
	return &mediaStore{max: MaxMediaBytes, files: map[string]mediaFile{}}
}

// put stores a file under a new id, forgetting the oldest files as needed.
func (m *mediaStore) put(f mediaFile) string {
	var b [mediaIDBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	id := hex.EncodeToString(b[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.order) > 0 && (len(m.order) >= MediaStoreFiles || m.bytes+len(f.data) > MediaStoreBytes) {
		old := m.order[0]
		m.order = m.order[1:]
		m.bytes -= len(m.files[old].data)
		delete(m.files, old)
	}
	m.files[id] = f
	m.order = append(m.order, id)
	m.bytes += len(f.data)
	return id
}

func (m *mediaStore) get(id string) (mediaFile, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[id]
	return f, ok
}

func (m *mediaStore) has(id string) bool {
	_, ok := m.get(id)
	return ok
}

// PutMedia hosts a file as if it had been uploaded (the way the real
// connector re-hosts an attachment it received) and returns its id; the
// file is then served at MediaURL(id) to a bearer the connector accepts.
// It fails when data is over MaxMediaBytes.
func (s *Server) PutMedia(contentType, filename string, data []byte) (string, error) {
	if len(data) > s.media.max {
		return "", fmt.Errorf("devconnector: media of %d bytes is over the %d-byte cap", len(data), s.media.max)
	}
	return s.media.put(mediaFile{data: append([]byte(nil), data...), contentType: contentType, filename: filename}), nil
}

// MediaURL returns the URL a hosted file is fetched from:
// <base>/relay/media/<id>.
func (s *Server) MediaURL(id string) string { return s.URL() + MediaPath + "/" + id }

// Media returns a hosted file.
func (s *Server) Media(id string) (contentType, filename string, data []byte, ok bool) {
	f, ok := s.media.get(id)
	return f.contentType, f.filename, f.data, ok
}

func (s *Server) reportMedia(r MediaRequest) {
	if s.opts.OnMedia != nil {
		s.opts.OnMedia(r)
	}
}

// mediaFail answers a media request with an error and reports it.
func (s *Server) mediaFail(w http.ResponseWriter, r MediaRequest, status int, reason string) {
	r.Status, r.Reason = status, reason
	s.reportMedia(r)
	http.Error(w, reason, status)
}

// serveMediaUpload answers POST MediaPath: the raw bytes of a file, with
// Content-Type, X-Media-Filename and the upgrade-token bearer; it answers
// {"id","size"}.
func (s *Server) serveMediaUpload(w http.ResponseWriter, r *http.Request) {
	req := MediaRequest{Upload: true, ContentType: r.Header.Get("Content-Type"), Filename: r.Header.Get("X-Media-Filename")}
	switch {
	case !s.authorized(r):
		s.mediaFail(w, req, http.StatusUnauthorized, "unauthorized")
		return
	case r.ContentLength > int64(s.media.max):
		s.mediaFail(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is over the %d-byte cap", s.media.max))
		return
	case utf8.RuneCountInString(req.Filename) > MaxMediaFilename:
		s.mediaFail(w, req, http.StatusBadRequest, fmt.Sprintf("X-Media-Filename is over %d characters", MaxMediaFilename))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.media.max)))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.mediaFail(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is over the %d-byte cap", s.media.max))
		return
	case err != nil:
		s.mediaFail(w, req, http.StatusBadRequest, "cannot read the body")
		return
	case len(data) == 0:
		s.mediaFail(w, req, http.StatusBadRequest, "the body is empty")
		return
	}
	if req.ContentType == "" {
		req.ContentType = "application/octet-stream"
	}
	req.ID = s.media.put(mediaFile{data: data, contentType: req.ContentType, filename: req.Filename})
	req.Size, req.Status = len(data), http.StatusOK
	b, _ := json.Marshal(map[string]any{"id": req.ID, "size": len(data)}) // a string and an int: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	s.reportMedia(req)
}

// serveMediaDownload answers GET MediaPath/{id} with the file, to the
// upgrade-token bearer only.
func (s *Server) serveMediaDownload(w http.ResponseWriter, r *http.Request) {
	req := MediaRequest{ID: r.PathValue("id")}
	if !s.authorized(r) {
		s.mediaFail(w, req, http.StatusUnauthorized, "unauthorized")
		return
	}
	f, ok := s.media.get(req.ID)
	if !ok {
		s.mediaFail(w, req, http.StatusNotFound, "no such media (expired or never uploaded)")
		return
	}
	req.Size, req.ContentType, req.Filename, req.Status = len(f.data), f.contentType, f.filename, http.StatusOK
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.data)))
	if f.filename != "" {
		if v := mime.FormatMediaType("inline", map[string]string{"filename": f.filename}); v != "" {
			h.Set("Content-Disposition", v)
		}
	}
	_, _ = w.Write(f.data)
	s.reportMedia(req)
}
