package relaytest

import "github.com/relayhost/relay-host/host/internal/devconnector"

// The test connector hosts the dev connector's media plane: POST
// /relay/media uploads and GET /relay/media/{id} downloads, for the
// upgrade-token bearer only (a store of at most MediaStoreFiles files and
// MediaStoreBytes bytes, the oldest forgotten first).

// MediaPath is where the media plane lives.
const MediaPath = devconnector.MediaPath

// MaxMediaBytes is the largest file the media plane takes (25 MiB).
const MaxMediaBytes = devconnector.MaxMediaBytes

// MediaStoreFiles and MediaStoreBytes bound the media store.
const (
	MediaStoreFiles = devconnector.MediaStoreFiles
	MediaStoreBytes = devconnector.MediaStoreBytes
)

// MediaRequest is one request to the media plane, as reported to
// Options.OnMedia.
type MediaRequest = devconnector.MediaRequest

// PutMedia hosts a file as the connector re-hosts an attachment it received
// and returns its id; MediaURL(id) serves it.
func (s *Server) PutMedia(contentType, filename string, data []byte) (string, error) {
	return s.conn.PutMedia(contentType, filename, data)
}

// MediaURL returns the URL of a hosted file: <base>/relay/media/<id>.
func (s *Server) MediaURL(id string) string { return s.conn.MediaURL(id) }

// Media returns a hosted file (an upload, or one PutMedia added).
func (s *Server) Media(id string) (contentType, filename string, data []byte, ok bool) {
	return s.conn.Media(id)
}

// Answer returns the result a connector carrying the action out would give
// (see Options.Answers); a test's Options.Outbound may fall back to it.
func (s *Server) Answer(of OutboundFrame) map[string]any { return s.conn.Answer(of) }
