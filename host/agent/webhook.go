package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook retry policy. An agent endpoint that is restarting or overloaded
// usually recovers within seconds; past webhookAttempts the forward is left
// un-acknowledged and the connector redelivers it on a later connection.
const (
	webhookAttempts     = 4
	webhookBackoffBase  = 200 * time.Millisecond
	webhookBackoffMax   = 2 * time.Second
	webhookTimeout      = 30 * time.Second // one attempt; an agent should hand off, not think, before answering
	webhookMaxReplySize = 1 << 20          // larger than any platform message
)

// Webhook POSTs each event (the Event JSON form) to an HTTP endpoint.
// A 2xx answer means the agent took the event; a JSON body may carry
// {"reply": "…"} to send back and {"actions": [ACTION, …]} to run after it
// (see decodeAnswer). 5xx answers, timeouts and connection errors are
// retried with backoff; any other answer is a failure, a redirect (3xx)
// included: redirects are never followed.
type Webhook struct {
	url       string
	client    *http.Client
	userAgent string
	backoff   time.Duration // the first retry's delay: webhookBackoffBase (tests lengthen it)
}

// NewWebhook returns a Webhook agent posting to rawURL, which must be an
// absolute http or https URL (a *URLError otherwise).
func NewWebhook(rawURL, userAgent string) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &URLError{URL: rawURL}
	}
	client := &http.Client{Timeout: webhookTimeout, CheckRedirect: refuseRedirect}
	return &Webhook{url: rawURL, client: client, userAgent: userAgent, backoff: webhookBackoffBase}, nil
}

// refuseRedirect never follows a redirect: the 3xx itself is the answer,
// and a failure. Following it would re-send the event somewhere the
// operator did not configure (a 307 re-POSTs it to another host) or turn
// it into a GET without the event (302, 303), whose 200 would then count
// as delivered although the agent never saw the event.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// errPermanent marks an answer that retrying will not change.
var errPermanent = errors.New("agent refused the event")

// Deliver implements Agent.
func (w *Webhook) Deliver(ctx context.Context, ev Event) (Answer, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return Answer{}, fmt.Errorf("webhook agent: encode event: %w", err)
	}
	delay := w.backoff
	var last error
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		answer, err := w.post(ctx, body)
		if err == nil {
			return answer, nil
		}
		last = err
		if errors.Is(err, errPermanent) || attempt == webhookAttempts {
			break
		}
		// A turn cancelled (an interrupt, shutdown) during the attempt or
		// the backoff ends here, with ctx's error, and is not retried.
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Answer{}, fmt.Errorf("webhook agent: %w (last attempt: %v)", ctx.Err(), last)
		case <-t.C:
		}
		delay = min(delay*2, webhookBackoffMax)
	}
	return Answer{}, fmt.Errorf("webhook agent: %w", last)
}

func (w *Webhook) post(ctx context.Context, body []byte) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	resp, err := w.client.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("post event: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, webhookMaxReplySize))
	if err != nil {
		return Answer{}, fmt.Errorf("read answer: %w", err)
	}
	switch {
	case resp.StatusCode >= 500:
		return Answer{}, fmt.Errorf("agent answered %s", resp.Status)
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return Answer{}, fmt.Errorf("%w: it answered %s (redirects are not followed)", errPermanent, resp.Status)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return Answer{}, fmt.Errorf("%w: it answered %s", errPermanent, resp.Status)
	}
	return decodeAnswer(data), nil
}
