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
	"strings"
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
// interactions (after plugins/discord/convert/testdata/golden), a Twilio
// SMS webhook, and the button press template (8-press.json, whose
// {{custom_id}} and {{message_id}} the demo fills in from the prompt it
// presses).
//
//go:embed samples
var samples embed.FS

// pressTemplate is the button press the demo sends on a prompt.
const pressTemplate = "samples/8-press.json"

// demoSample is one request the demo sends through the edge.
type demoSample struct {
	title    string
	platform string
	file     string
	// press is the option the demo presses on the prompt the sample's
	// story sent, once that story has ended ("" for none).
	press string
}

// demoSamples lists the samples in the order the demo sends them; the last
// four need dev's own agent (ownAgent), which acts through the agent API.
func demoSamples(ownAgent bool) []demoSample {
	list := []demoSample{
		{"slash command with options: /ask", edge.PlatformDiscord, "samples/1-slash-command.json", ""},
		{"button press", edge.PlatformDiscord, "samples/2-button.json", ""},
		{"select menu, two values, in a DM", edge.PlatformDiscord, "samples/3-select.json", ""},
		{"modal submit, two fields", edge.PlatformDiscord, "samples/4-modal.json", ""},
		{"Twilio SMS webhook", edge.PlatformTwilio, "samples/5-twilio-sms.form", ""},
	}
	if ownAgent {
		list = append(list,
			demoSample{"streamed answer: a reply, then edits (/stream)", edge.PlatformDiscord, "samples/6-stream.json", ""},
			demoSample{"typing heartbeats while the agent thinks (/think)", edge.PlatformDiscord, "samples/7-think.json", ""},
			demoSample{"approval prompt, answered by a button press (/deploy)", edge.PlatformDiscord, "samples/8-deploy.json", "approve"},
			demoSample{"long reply, split in parts (/ask, 2,300 characters)", edge.PlatformDiscord, "samples/9-long-reply.json", ""},
		)
	}
	return list
}

// demoSummary counts what the demo saw.
type demoSummary struct {
	samples, matched, unmatched, dropped, failed int
	actions                                      []string // ops of the other actions, in order
	elapsed                                      time.Duration
}

// sampleOutcome is what became of one request, read from the dev log.
type sampleOutcome struct {
	bufferID  string
	plugin    *host.Step
	agents    int // agent steps, events kept from the agent included
	agentErr  bool
	toAnswer  int // agent steps whose answer has a reply or actions
	answered  int // answer steps: replies and actions sent
	outbounds int
	matched   int
	actions   []string       // ops of the actions other than follow-ups and sends
	prompt    *edge.Outbound // the last prompt the connector showed
	acked     bool
}

// readOutcome reads a request's outcome from the items logged since it was
// sent (the demo sends one request at a time).
func readOutcome(items []any) sampleOutcome {
	var o sampleOutcome
	// The request's bufferId first: the host may report the plugin's result
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
		case edge.Outbound:
			o.outbounds++
			o.actions = append(o.actions, x.Op)
			if x.Op == "prompt" && x.Success {
				p := x
				o.prompt = &p
			}
		case host.Step:
			o.addStep(x)
		}
	}
	return o
}

func (o *sampleOutcome) addStep(x host.Step) {
	switch {
	case x.Stage == host.StagePlugin && o.bufferID != "" && x.Forward.BufferID == o.bufferID && o.plugin == nil:
		s := x
		o.plugin = &s
	case x.Stage == host.StageAgent:
		o.agents++
		switch {
		case x.Err != nil:
			o.agentErr = true
		case !x.Swallowed && (x.Reply != "" || x.Actions > 0):
			o.toAnswer++
		}
	case x.Stage == host.StageAnswer:
		o.answered++
	}
}

// workerAnswered reports whether a worker's reply came back for a request
// whose event went to the agent (a request without one needs none).
func (o sampleOutcome) workerAnswered() bool {
	if o.plugin == nil || o.plugin.Err != nil || o.plugin.Result.Disposition != pluginapi.Handled || o.agents == 0 || o.agentErr {
		return true
	}
	return o.matched+o.outbounds > 0
}

// complete reports whether the request's story has ended: the plugin
// failed, or the forward was settled (acked) and every answer went out.
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
	return o.acked && o.answered >= o.toAnswer
}

// demo is one run of the demo.
type demo struct {
	edge   *edge.Edge
	log    *devLog
	bots   map[string]string
	signer ed25519.PrivateKey
	client *http.Client
	sum    demoSummary
	// workerReplies: the agent answers later, through workers (the
	// JetStream agent), so a story ends with the reply, not the ack.
	workerReplies bool
}

// runDemo sends every sample through the edge over HTTP, one at a time,
// printing each step, and waits for each sample's story to end before the
// next. signer, when set, signs the Discord samples; ownAgent adds the
// samples that need dev's own agent.
func runDemo(ctx context.Context, e *edge.Edge, log *devLog, botIDs map[string]string, signer ed25519.PrivateKey, ownAgent, workerReplies bool) (demoSummary, error) {
	start := time.Now()
	list := demoSamples(ownAgent)
	d := &demo{edge: e, log: log, bots: botIDs, signer: signer, client: &http.Client{Timeout: demoRequestTimeout}, workerReplies: workerReplies}
	log.notef("")
	log.notef("%s", log.heading(fmt.Sprintf("Demo: %d sample requests through the edge over HTTP", len(list))))
	for i, s := range list {
		if ctx.Err() != nil {
			return d.sum, ctx.Err()
		}
		body, err := samples.ReadFile(s.file)
		if err != nil {
			return d.sum, fmt.Errorf("demo sample %s: %w", s.file, err)
		}
		log.notef("")
		log.notef("%s", log.heading(fmt.Sprintf("[%d/%d] %s", i+1, len(list), s.title)))
		d.sum.samples++
		o, err := d.play(ctx, s, body)
		if err != nil {
			return d.sum, err
		}
		if s.press != "" && o != nil {
			if err := d.press(ctx, o.prompt, s.press); err != nil {
				return d.sum, err
			}
		}
	}
	d.sum.elapsed = time.Since(start)
	return d.sum, nil
}

// play sends one request and waits for its story to end; it returns the
// outcome, nil when the request failed (already counted and printed). An
// error ends the demo (ctx ended).
func (d *demo) play(ctx context.Context, s demoSample, body []byte) (*sampleOutcome, error) {
	from := d.log.mark()
	status, err := postSample(ctx, d.client, d.edge, s, body, d.bots[s.platform], d.signer)
	if err != nil {
		d.sum.failed++
		d.log.notef("  %s", err)
		return nil, nil
	}
	if status != http.StatusOK {
		d.sum.failed++
		return nil, nil // refused at the edge: the refusal is already printed
	}
	var o sampleOutcome
	wctx, cancel := context.WithTimeout(ctx, demoSampleWait)
	err = d.log.wait(wctx, from, func(items []any) bool {
		o = readOutcome(items)
		return o.complete() && (!d.workerReplies || o.workerAnswered())
	})
	cancel()
	d.log.flush()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		d.sum.failed++
		d.log.notef("  did not finish within %s", demoSampleWait)
		return nil, nil
	case o.plugin.Err != nil || o.agentErr:
		d.sum.failed++
	case o.plugin.Result.Disposition != pluginapi.Handled:
		d.sum.dropped++
	}
	d.sum.matched += o.matched
	d.sum.unmatched += o.outbounds - len(o.actions) - o.matched
	d.sum.actions = append(d.sum.actions, o.actions...)
	return &o, nil
}

// press presses option on the prompt a story showed, as a user would: a
// button interaction (the connector's custom_id for that option) posted to
// the Discord edge, whose story then plays like any other.
func (d *demo) press(ctx context.Context, prompt *edge.Outbound, option string) error {
	if prompt == nil {
		d.sum.failed++
		d.log.notef("  no prompt was shown: nothing to press")
		return nil
	}
	label := option
	for _, o := range prompt.Options {
		if o.ID == option {
			label = o.Label
		}
	}
	tmpl, err := samples.ReadFile(pressTemplate)
	if err != nil {
		return fmt.Errorf("demo sample %s: %w", pressTemplate, err)
	}
	body := strings.NewReplacer("{{custom_id}}", edge.PromptButtonID(prompt.PromptID, option),
		"{{message_id}}", prompt.NewID).Replace(string(tmpl))
	d.log.notef("  %s", d.log.paint(ansiBold, fmt.Sprintf("the demo presses [%s] on prompt %s (message %s)", label, prompt.PromptID, prompt.NewID)))
	_, err = d.play(ctx, demoSample{platform: edge.PlatformDiscord}, []byte(body))
	return err
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
	if len(s.actions) > 0 {
		line += fmt.Sprintf(", %d other actions (%s)", len(s.actions), countOps(s.actions))
	}
	if s.dropped > 0 {
		line += fmt.Sprintf(", %d dropped by the plugin (no reply)", s.dropped)
	}
	if s.failed > 0 {
		line += fmt.Sprintf(", %d failed", s.failed)
	}
	return line + fmt.Sprintf(", in %s (%s since start)", s.elapsed.Round(time.Millisecond), sinceStart.Round(time.Millisecond))
}

// countOps renders ops as "edit ×2, typing ×2, prompt", in order of first
// appearance.
func countOps(ops []string) string {
	var order []string
	n := map[string]int{}
	for _, op := range ops {
		if n[op] == 0 {
			order = append(order, op)
		}
		n[op]++
	}
	parts := make([]string, len(order))
	for i, op := range order {
		parts[i] = op
		if n[op] > 1 {
			parts[i] += fmt.Sprintf(" ×%d", n[op])
		}
	}
	return strings.Join(parts, ", ")
}
