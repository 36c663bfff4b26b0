package edge

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// SignatureWindow is how far a signed Discord request's timestamp
// (X-Signature-Timestamp, unix seconds) may be from the edge's clock, either
// way: outside it the request is refused 401, even with a valid signature,
// so a captured request cannot be replayed later. Discord signs a request
// as it sends it; five minutes leaves ample room for clock skew.
const SignatureWindow = 5 * time.Minute

// replayMemory is how many signed interaction ids the edge remembers, to
// refuse (401) a validly signed request seen before: Discord sends each
// interaction once, so a repeat is a replay. A replay older than
// SignatureWindow is refused by its timestamp, so the ids of the last
// SignatureWindow are the ones that matter; at more than 33 signed
// interactions a second for five minutes the oldest are forgotten first.
const replayMemory = 10_000

// Request deadlines of the edge's webhooks. A platform sends the whole
// request at once, and Discord wants its answer within 3 s; a client that
// trickles its body (or never reads the answer) would hold a connection
// and a goroutine for as long as it likes.
const (
	// RequestReadTimeout bounds reading a request's body, from when its
	// handler starts.
	RequestReadTimeout = 10 * time.Second
	// RequestWriteTimeout bounds writing the answer.
	RequestWriteTimeout = 10 * time.Second
)

// replayGuard remembers the ids of signed interactions (the last
// replayMemory). It is safe for concurrent use.
type replayGuard struct {
	seen *lru.Cache[string, struct{}]
}

func newReplayGuard() *replayGuard {
	c, err := lru.New[string, struct{}](replayMemory)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &replayGuard{seen: c}
}

// first records id and reports whether it was new.
func (g *replayGuard) first(id string) bool {
	known, _ := g.seen.ContainsOrAdd(id, struct{}{})
	return !known
}

// checkTimestamp says why a signed request's timestamp is refused, "" when
// it is a whole number of unix seconds at most SignatureWindow from now
// (either way; exactly SignatureWindow is accepted).
func checkTimestamp(ts string, now time.Time) string {
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs < 0 {
		return "request timestamp is not unix seconds"
	}
	window := int64(SignatureWindow / time.Second)
	if d := now.Unix() - secs; d > window || d < -window {
		return fmt.Sprintf("request timestamp is more than %s from now", SignatureWindow)
	}
	return ""
}

// armDeadlines sets the request's read and write deadlines (read: the
// Config's bodyTimeout, RequestReadTimeout when zero).
func (e *Edge) armDeadlines(w http.ResponseWriter) {
	read := e.cfg.bodyTimeout
	if read <= 0 {
		read = RequestReadTimeout
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(read))
	_ = rc.SetWriteDeadline(now.Add(RequestWriteTimeout))
}

// now is the edge's clock.
func (e *Edge) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}
