package edge

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignedReplayIsForwardedOnce posts one validly signed interaction
// three times: the first is answered and forwarded, the replays are
// refused 401 and never reach the host.
func TestSignedReplayIsForwardedOnce(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e, log := startEdge(t, Config{PublicKeys: []ed25519.PublicKey{pub}})
	host := connectHost(t, e)
	body := []byte(slashBody)
	h := signed(priv, body)
	for i := range 3 {
		r := post(t, e.DiscordURL("app-1"), "application/json", body, h)
		want := http.StatusOK
		if i > 0 {
			want = http.StatusUnauthorized
		}
		if r.status != want {
			t.Fatalf("request %d: answer %d %q, want %d", i+1, r.status, r.body, want)
		}
		if i > 0 && !strings.Contains(r.body, "a replay") {
			t.Fatalf("replay refused with %q, want it to say it is a replay", r.body)
		}
	}
	f := host.next(t)
	waitFor(t, log, func(x Forwarded) bool { return x.BufferID == f.BufferID })
	if n := count[Forwarded](log) + count[Buffered](log); n != 1 || len(e.Connector().Pending()) > 1 {
		t.Fatalf("%d forwards reported, %d pending; want the interaction forwarded once", n, len(e.Connector().Pending()))
	}
	if n := count[Refused](log); n != 2 {
		t.Fatalf("%d refusals reported, want the 2 replays", n)
	}
	// Another interaction, signed the same way, still goes through.
	other := []byte(strings.Replace(slashBody, `"id":"1001"`, `"id":"1002"`, 1))
	if r := post(t, e.DiscordURL("app-1"), "application/json", other, signed(priv, other)); r.status != http.StatusOK {
		t.Fatalf("a new interaction after the replays: %d %q", r.status, r.body)
	}
}

// TestSignedTimestampWindow checks the window around the edge's clock: a
// validly signed request stamped more than SignatureWindow away (in 2001,
// in 2286, 301 s either way) is refused 401, one within it is accepted.
func TestSignedTimestampWindow(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	e, _ := startEdge(t, Config{PublicKeys: []ed25519.PublicKey{pub}, Now: func() time.Time { return now }})
	connectHost(t, e)
	for _, tt := range []struct {
		name string
		at   time.Time
		want int
	}{
		{"2001", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), http.StatusUnauthorized},
		{"2286", time.Unix(9_999_999_999, 0), http.StatusUnauthorized},
		{"301 s ago", now.Add(-301 * time.Second), http.StatusUnauthorized},
		{"301 s ahead", now.Add(301 * time.Second), http.StatusUnauthorized},
		{"300 s ago", now.Add(-300 * time.Second), http.StatusOK},
		{"299 s ahead", now.Add(299 * time.Second), http.StatusOK},
		{"now", now, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A new interaction each time: none is a replay.
			body := []byte(strings.Replace(slashBody, `"id":"1001"`, `"id":"`+tt.name+`"`, 1))
			r := post(t, e.DiscordURL("app-1"), "application/json", body, signedAt(priv, body, tt.at))
			if r.status != tt.want {
				t.Fatalf("answer %d %q, want %d", r.status, r.body, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.Contains(r.body, "more than 5m0s from now") {
				t.Fatalf("refused with %q, want it to name the window", r.body)
			}
		})
	}
	t.Run("not a number", func(t *testing.T) {
		body := []byte(slashBody)
		h := map[string]string{HeaderTimestamp: "soon", HeaderSignature: Sign(priv, "soon", body)}
		if r := post(t, e.DiscordURL("app-1"), "application/json", body, h); r.status != http.StatusUnauthorized {
			t.Fatalf("answer %d %q, want 401", r.status, r.body)
		}
	})
}

// TestSlowBodyIsCut opens a request whose body never finishes: the edge
// gives up on it at its read deadline instead of holding the connection.
func TestSlowBodyIsCut(t *testing.T) {
	const bodyTimeout = 300 * time.Millisecond
	e, _ := startEdge(t, Config{bodyTimeout: bodyTimeout})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST "+DiscordPath+" HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":"); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the edge still waits for the body after %s", testTimeout)
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("answer %d, want 400 (body not read)", resp.StatusCode)
		}
	} // or the connection was closed: cut either way
	if elapsed := time.Since(start); elapsed < bodyTimeout {
		t.Fatalf("cut after %s, before the %s deadline", elapsed, bodyTimeout)
	}
}

// FuzzCheckTimestamp checks the signed-timestamp window against a clock at
// 1,800,000,000: a timestamp is accepted exactly when it is a base-10
// integer within SignatureWindow of it, and the reason is one of two fixed
// texts.
func FuzzCheckTimestamp(f *testing.F) {
	for _, s := range []string{"1800000000", "1799999700", "1799999699", "9999999999", "-1", "soon", ""} {
		f.Add(s)
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, ts string) {
		why := checkTimestamp(ts, now)
		secs, err := strconv.ParseInt(ts, 10, 64)
		ok := err == nil && secs >= now.Unix()-300 && secs <= now.Unix()+300
		if ok != (why == "") {
			t.Fatalf("checkTimestamp(%q) = %q, want accepted=%v", ts, why, ok)
		}
		switch why {
		case "", "request timestamp is not unix seconds", "request timestamp is more than 5m0s from now":
		default: // a reason never carries the request's own text
			t.Fatalf("checkTimestamp(%q): unexpected reason %q", ts, why)
		}
	})
}
