package gather

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a net.Conn that records each Write call and its deadline.
type recorder struct {
	net.Conn
	mu        sync.Mutex
	writes    []string
	deadlines int
	fail      error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) SetWriteDeadline(time.Time) error {
	r.mu.Lock()
	r.deadlines++
	r.mu.Unlock()
	return nil
}

func TestWritesGoStraightThroughUnlessHeld(t *testing.T) {
	rec := &recorder{}
	c := New(rec, time.Second)
	mustWrite(t, c, "a")
	mustWrite(t, c, "b")
	if got := strings.Join(rec.writes, "|"); got != "a|b" {
		t.Fatalf("writes = %q, want a|b (one each)", got)
	}
	if rec.deadlines != 2 {
		t.Errorf("%d write deadlines set, want one per write", rec.deadlines)
	}
}

func TestHeldWritesGoOutTogetherOnRelease(t *testing.T) {
	rec := &recorder{}
	c := New(rec, time.Second)
	c.Hold()
	mustWrite(t, c, "one")
	mustWrite(t, c, "two")
	if len(rec.writes) != 0 || c.Held() != 6 {
		t.Fatalf("writes while held = %q (held %d), want none yet", rec.writes, c.Held())
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.writes, "|"); got != "onetwo" {
		t.Fatalf("writes = %q, want one write of onetwo", got)
	}
	mustWrite(t, c, "three")
	if len(rec.writes) != 2 {
		t.Fatalf("a write after Release was held: %q", rec.writes)
	}
}

func TestHeldBytesAreBounded(t *testing.T) {
	rec := &recorder{}
	c := New(rec, 0)
	c.Hold()
	chunk := strings.Repeat("x", flushAt/2+1)
	mustWrite(t, c, chunk)
	mustWrite(t, c, chunk) // would pass flushAt: the first goes out
	if len(rec.writes) != 1 || c.Held() != len(chunk) {
		t.Fatalf("%d writes, %d held; want the first chunk sent and the second held", len(rec.writes), c.Held())
	}
	mustWrite(t, c, strings.Repeat("y", flushAt+1)) // too big to hold at all
	if len(rec.writes) != 3 || c.Held() != 0 {
		t.Fatalf("%d writes, %d held; want the held chunk then the big one sent", len(rec.writes), c.Held())
	}
	if err := c.Release(); err != nil || len(rec.writes) != 3 {
		t.Fatalf("Release: %v, %d writes", err, len(rec.writes))
	}
	if rec.deadlines != 0 {
		t.Errorf("deadlines set with no timeout")
	}
}

func TestAWriteErrorSticks(t *testing.T) {
	broken := errors.New("broken pipe")
	rec := &recorder{}
	c := New(rec, time.Second)
	c.Hold()
	mustWrite(t, c, "lost")
	rec.fail = broken
	if err := c.Release(); !errors.Is(err, broken) {
		t.Fatalf("Release error = %v, want the write's", err)
	}
	rec.fail = nil
	if _, err := c.Write([]byte("later")); !errors.Is(err, broken) {
		t.Fatalf("write after a failure = %v, want the first error again", err)
	}
	if len(rec.writes) != 0 {
		t.Fatalf("writes reached a broken connection: %q", rec.writes)
	}
}

func mustWrite(t *testing.T, c *Conn, s string) {
	t.Helper()
	if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}
