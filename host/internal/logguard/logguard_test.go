package logguard

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, in := range []string{"", "pbuf-7", strings.Repeat("é", 200), strings.Repeat("\xff", 300), "a\xffb", strings.Repeat("x", MaxField)} {
		got := Clip(in)
		if !utf8.ValidString(got) || len(got) > MaxField+len("…") {
			t.Errorf("Clip(%.20q) = %.40q (%d bytes): not short valid UTF-8", in, got, len(got))
		}
		if len(in) <= MaxField && utf8.ValidString(in) && got != in {
			t.Errorf("Clip(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestLimiterLetsABurstThroughThenOneASecond(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(func() time.Time { return now })
	allowed := 0
	for range 1000 {
		if ok, _ := l.Allow("forward failed"); ok {
			allowed++
		}
	}
	if allowed != Burst {
		t.Fatalf("%d of 1,000 lines at once let through, want the burst of %d", allowed, Burst)
	}
	if ok, _ := l.Allow("another kind"); !ok {
		t.Fatalf("a different kind of line is held back by the first")
	}
	now = now.Add(Interval)
	ok, held := l.Allow("forward failed")
	if !ok || held != 1000-Burst {
		t.Fatalf("after %s: allowed %v, held back %d; want true and %d", Interval, ok, held, 1000-Burst)
	}
	if ok, _ := l.Allow("forward failed"); ok {
		t.Fatalf("two lines let through within one interval after the burst")
	}
}

func TestClipError(t *testing.T) {
	if got := ClipError(nil); got != "" {
		t.Errorf("ClipError(nil) = %q", got)
	}
	long := strings.Repeat("wrapped: ", 200)
	if got := ClipError(errString(long)); len(got) > MaxError+len("…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("ClipError = %d bytes %.40q", len(got), got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
