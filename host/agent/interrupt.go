package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// InterruptReason is the reason the webhook agent's interrupt notice gives
// for an interrupt the connector relayed (interrupt_inbound carries none of
// its own).
const InterruptReason = "interrupt_inbound: the user stopped this session's turn"

// maxInterruptAnswer bounds how much of the agent's answer to an interrupt
// notice is read (and thrown away) so the connection can be reused.
const maxInterruptAnswer = 64 << 10

// interruptNotice is the body of the interrupt notice.
type interruptNotice struct {
	Type       string `json:"type"`
	SessionKey string `json:"session_key"`
	ChatID     string `json:"chat_id,omitempty"`
	Reason     string `json:"reason"`
}

// Interrupt implements Interrupter: it POSTs
// {"type":"interrupt","session_key":…,"chat_id":…,"reason":…} to the agent's
// URL once, without retries (best effort: the deliveries of that session are
// cancelled either way). Any 2xx answer is success. ctx bounds it; the
// client's own per-attempt timeout applies too.
func (w *Webhook) Interrupt(ctx context.Context, sessionKey, chatID string) error {
	body, err := json.Marshal(interruptNotice{Type: "interrupt", SessionKey: sessionKey, ChatID: chatID, Reason: InterruptReason})
	if err != nil {
		return fmt.Errorf("encode interrupt notice: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build interrupt notice: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post interrupt notice: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxInterruptAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post interrupt notice: the agent answered %s", resp.Status)
	}
	return nil
}
