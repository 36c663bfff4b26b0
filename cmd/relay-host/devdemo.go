package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/relayhost/relay-host/host"
	"github.com/relayhost/relay-host/host/edge"
	"github.com/relayhost/relay-host/pluginapi"
)

// demoSampleWait bounds the wait for one demo sample's story (plugin, agent,
// ack, follow-up). On loopback it takes milliseconds; a sample still
// unfinished after this is reported and the demo moves on.
const demoSampleWait = 10 * time.Second

// demoRequestTimeout bounds one demo HTTP request to the edge, which answers
// before the host does anything.
const demoRequestTimeout = 10 * time.Second

// samples holds the demo's sample requests: small real-shaped Discord
// interactions (after plugins/discord/convert/testdata/golden) and a Twilio
// SMS webhook.
//
//go:embed samples
var samples embed.FS

// demoSample is one request the demo sends through the edge.
type demoSample struct {
	title    string
	platform string
	file     string
}

// demoSamples lists the samples in the order the demo sends them.
func demoSamples() []demoSample {
	return []demoSample{
		{"slash command with options: /ask", edge.PlatformDiscord, "samples/1-slash-command.json"},
		{"button press", edge.PlatformDiscord, "samples/2-button.json"},
		{"select menu, two values, in a DM", edge.PlatformDiscord, "samples/3-select.json"},
		{"modal submit, two fields", edge.PlatformDiscord, "samples/4-modal.json"},
		{"Twilio SMS webhook", edge.PlatformTwilio, "samples/5-twilio-sms.form"},
	}
}

// demoSummary counts what the demo saw.
type demoSummary struct {
	samples, matched, unmatched, dropped, failed int
	elapsed                                      time.Duration
}

// sampleOutcome is what became of one sample, read from the dev log.
type sampleOutcome struct {
	bufferID  string
	plugin    *host.Step
	agents    int
	agentErr  bool
	replies   int
	outbounds int
	matched   int
	acked     bool
}

// readOutcome reads a sample's outcome from the items logged since it was
// sent (the demo sends one sample at a time).
func readOutcome(items []any) sampleOutcome {
	var o sampleOutcome
	// The sample's bufferId first: the host may report the plugin's result
	// before the edge has reported handing the forward over.
	for _, it := range items {
		switch x := it.(type) {
		case edge.Forwarded:
			o.bufferID = x.BufferID
		case edge.Buffered:
			o.bufferID = x.BufferID
		}
		if o.bufferID != "" {
			break
		}
	}
	for _, it := range items {
		switch x := it.(type) {
		case edge.Acked:
			if x.BufferID == o.bufferID && o.bufferID != "" {
				o.acked = true
			}
		case edge.FollowUp:
			o.outbounds++
			if x.Matched {
				o.matched++
			}
		case edge.Sent:
			o.outbounds++
		case host.Step:
			switch {
			case x.Stage == host.StagePlugin && o.bufferID != "" && x.Forward.BufferID == o.bufferID && o.plugin == nil:
				s := x
				o.plugin = &s
			case x.Stage == host.StageAgent:
				o.agents++
				if x.Err != nil {
					o.agentErr = true
				} else if x.Reply != "" {
					o.replies++
				}
			}
		}
	}
	return o
}

// complete reports whether the sample's story has ended: the plugin failed,
// or the forward was settled (acked) and every reply came back out.
func (o sampleOutcome) complete() bool {
	switch {
	case o.plugin == nil:
		return false
	case o.plugin.Err != nil:
		return true // not settled: no ack, no reply
	case o.plugin.Result.Disposition != pluginapi.Handled:
		return o.acked
	case o.agents < len(o.plugin.Result.Events):
		return false
	case o.agentErr:
		return true
	}
	return o.acked && o.outbounds >= o.replies
}

// runDemo sends every sample through the edge over HTTP, one at a time,
// printing each step, and waits for each sample's story to end before the
// next. signer, when set, signs the Discord samples.
func runDemo(ctx context.Context, e *edge.Edge, log *devLog, botIDs map[string]string, signer ed25519.PrivateKey) (demoSummary, error) {
	start := time.Now()
	list := demoSamples()
	var sum demoSummary
	client := &http.Client{Timeout: demoRequestTimeout}
	log.notef("")
	log.notef("%s", log.heading(fmt.Sprintf("Demo: %d sample requests through the edge over HTTP", len(list))))
	for i, s := range list {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		body, err := samples.ReadFile(s.file)
		if err != nil {
			return sum, fmt.Errorf("demo sample %s: %w", s.file, err)
		}
		log.notef("")
		log.notef("%s", log.heading(fmt.Sprintf("[%d/%d] %s", i+1, len(list), s.title)))
		from := log.mark()
		sum.samples++
		status, err := postSample(ctx, client, e, s, body, botIDs[s.platform], signer)
		if err != nil {
			sum.failed++
			log.notef("  %s", err)
			continue
		}
		if status != http.StatusOK {
			sum.failed++
			continue // refused at the edge: the refusal is already printed
		}
		var o sampleOutcome
		wctx, cancel := context.WithTimeout(ctx, demoSampleWait)
		err = log.wait(wctx, from, func(items []any) bool { o = readOutcome(items); return o.complete() })
		cancel()
		log.flush()
		switch {
		case err != nil && ctx.Err() != nil:
			return sum, ctx.Err()
		case err != nil:
			sum.failed++
			log.notef("  sample did not finish within %s", demoSampleWait)
		case o.plugin.Err != nil || o.agentErr:
			sum.failed++
		case o.plugin.Result.Disposition != pluginapi.Handled:
			sum.dropped++
		}
		sum.matched += o.matched
		sum.unmatched += o.outbounds - o.matched
	}
	sum.elapsed = time.Since(start)
	return sum, nil
}

// postSample sends one sample to the edge and returns the HTTP status.
func postSample(ctx context.Context, client *http.Client, e *edge.Edge, s demoSample, body []byte, botID string, signer ed25519.PrivateKey) (int, error) {
	url, ctype := e.TwilioURL(botID), "application/x-www-form-urlencoded"
	if s.platform == edge.PlatformDiscord {
		url, ctype = e.DiscordURL(botID), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "relay-host-demo/"+version)
	if signer != nil && s.platform == edge.PlatformDiscord {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(edge.HeaderTimestamp, ts)
		req.Header.Set(edge.HeaderSignature, edge.Sign(signer, ts, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, context.Canceled) {
		return 0, fmt.Errorf("read the answer from %s: %w", url, err)
	}
	return resp.StatusCode, nil
}

// summaryLine is the demo's one-line summary.
func (s demoSummary) line(sinceStart time.Duration) string {
	line := fmt.Sprintf("Demo done: %d samples, %d follow-ups matched", s.samples, s.matched)
	if s.unmatched > 0 {
		line += fmt.Sprintf(", %d unmatched", s.unmatched)
	}
	if s.dropped > 0 {
		line += fmt.Sprintf(", %d dropped by the plugin (no reply)", s.dropped)
	}
	if s.failed > 0 {
		line += fmt.Sprintf(", %d failed", s.failed)
	}
	return line + fmt.Sprintf(", in %s (%s since start)", s.elapsed.Round(time.Millisecond), sinceStart.Round(time.Millisecond))
}
