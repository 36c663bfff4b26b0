package relay

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	s := time.Second
	cases := []struct {
		attempt   int
		base, max time.Duration
		want      time.Duration
	}{
		{1, s, 30 * s, 1 * s},
		{2, s, 30 * s, 2 * s},
		{3, s, 30 * s, 4 * s},
		{4, s, 30 * s, 8 * s},
		{5, s, 30 * s, 16 * s},
		{6, s, 30 * s, 30 * s},
		{1000, s, 30 * s, 30 * s},
		{0, s, 30 * s, 1 * s},
		{3, 0, 30 * s, 0},
		{3, -s, 30 * s, 0},
		{3, s, 0, 0},
		{2, 40 * s, 30 * s, 30 * s},
	}
	for _, tc := range cases {
		if got := BackoffDelay(tc.attempt, tc.base, tc.max); got != tc.want {
			t.Errorf("BackoffDelay(%d, %v, %v) = %v, want %v", tc.attempt, tc.base, tc.max, got, tc.want)
		}
	}
}

func TestJitter(t *testing.T) {
	d := 8 * time.Second
	if got := Jitter(d, 0); got != 4*time.Second {
		t.Errorf("Jitter(8s, 0) = %v, want 4s (d/2)", got)
	}
	if got := Jitter(d, 1); got != d {
		t.Errorf("Jitter(8s, 1) = %v, want 8s (d)", got)
	}
	for _, u := range []float64{0.1, 0.5, 0.999999} {
		if got := Jitter(d, u); got < d/2 || got > d {
			t.Errorf("Jitter(8s, %v) = %v, outside [4s, 8s]", u, got)
		}
	}
	if got := Jitter(0, 0.5); got != 0 {
		t.Errorf("Jitter(0) = %v, want 0", got)
	}
}

func TestLadder(t *testing.T) {
	s := time.Second
	l := ladder{base: s, max: 30 * s, stable: 60 * s}
	t0 := time.Unix(1000, 0)
	never := time.Time{}
	var got []time.Duration
	for range 7 { // failed dials: no handshake
		got = append(got, l.next(never, t0, 1))
	}
	want := []time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ceilings after failed dials = %v, want %v", got, want)
		}
	}
	// A connector that drops every connection right after its descriptor
	// keeps climbing the ladder.
	l = ladder{base: s, max: 30 * s, stable: 60 * s}
	for i, w := range []time.Duration{1 * s, 2 * s, 4 * s, 8 * s} {
		if d := l.next(t0, t0.Add(59*s), 1); d != w {
			t.Fatalf("short-lived connection %d: wait %v, want %v", i+1, d, w)
		}
	}
	// A connection up for 60 s resets it.
	if d := l.next(t0, t0.Add(60*s), 1); d != s {
		t.Fatalf("after a stable connection: wait %v, want 1s", d)
	}
	if d := l.next(never, t0, 0); d != s {
		t.Fatalf("second wait after the reset with jitter 0: %v, want 1s (half of the 2s ceiling)", d)
	}
}
