package edge

import (
	"fmt"
	"testing"
	"time"
)

func TestVault(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	v := newVault(func() time.Time { return now })

	t.Run("follow-ups take a session's interactions oldest first, then reuse the newest", func(t *testing.T) {
		v.put("s1", "tok-a", "A")
		v.put("s1", "tok-b", "B")
		for _, want := range []struct {
			id     string
			repeat bool
		}{{"A", false}, {"B", false}, {"B", true}} {
			c, repeat, ok := v.take("s1")
			if !ok || c.interactionID != want.id || repeat != want.repeat {
				t.Fatalf("take(s1) = %s repeat=%v ok=%v; want %s repeat=%v", c.interactionID, repeat, ok, want.id, want.repeat)
			}
		}
	})
	t.Run("an unknown session matches nothing", func(t *testing.T) {
		if _, _, ok := v.take("s-unknown"); ok {
			t.Fatal("take(s-unknown) matched")
		}
	})
	t.Run("a token serves follow-ups for TokenTTL only", func(t *testing.T) {
		v.put("s2", "tok-c", "C")
		now = now.Add(TokenTTL)
		if _, _, ok := v.take("s2"); !ok {
			t.Fatal("token gone at exactly TokenTTL")
		}
		now = now.Add(time.Second)
		if _, _, ok := v.take("s2"); ok {
			t.Fatal("token still matched after TokenTTL")
		}
		if n := v.len(); n != 0 {
			t.Fatalf("vault holds %d tokens after they all expired, want 0", n)
		}
	})
	t.Run("the vault holds at most MaxVaulted tokens, dropping the oldest", func(t *testing.T) {
		for i := 0; i <= MaxVaulted; i++ {
			v.put(fmt.Sprintf("cap-%d", i), "tok", fmt.Sprint(i))
		}
		if n := v.len(); n != MaxVaulted {
			t.Fatalf("vault holds %d, want %d", n, MaxVaulted)
		}
		if _, _, ok := v.take("cap-0"); ok {
			t.Fatal("the oldest token survived the cap")
		}
		if c, _, ok := v.take(fmt.Sprintf("cap-%d", MaxVaulted)); !ok || c.interactionID != fmt.Sprint(MaxVaulted) {
			t.Fatal("the newest token was dropped")
		}
	})
}

func TestFingerprintHidesTheToken(t *testing.T) {
	fp := fingerprint("A_UNIQUE_TOKEN")
	if len(fp) != len("sha256:")+8 || fp == fingerprint("A_UNIQUE_TOKEN2") {
		t.Fatalf("fingerprint = %q", fp)
	}
}
