package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWebhookNeverFollowsRedirects answers every kind of redirect to
// another server that would take the event: the agent's 3xx is a failure,
// not retried, and the other server never hears of the event.
func TestWebhookNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = w.Write([]byte(`{"reply":"from elsewhere"}`))
	}))
	defer other.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				http.Redirect(w, r, other.URL+"/events", code)
			}))
			defer srv.Close()
			wh, err := NewWebhook(srv.URL, "relay-host/test")
			if err != nil {
				t.Fatal(err)
			}
			reply, err := wh.Deliver(context.Background(), event)
			if err == nil || reply.Reply != "" || !strings.Contains(err.Error(), strconv.Itoa(code)) || !strings.Contains(err.Error(), "redirects are not followed") {
				t.Errorf("Deliver = %+v, %v; want a failure naming the %d", reply, err, code)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("agent called %d times, want 1 (a redirect is not retried)", n)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want none", n)
	}
}
