package jetstream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// recentBatch is how many events one fetch of RecentEvents asks for: about
// 1 MiB of events of 1 KiB, few round trips for the default 10,000.
const recentBatch = 1000

// recentInactive lets the server remove RecentEvents' ephemeral consumer
// soon after it was last used (it is used once, at start).
const recentInactive = 30 * time.Second

// RecentEvents reads the events of gatewayID that the stream holds among
// its last max messages, oldest first, and calls fn with each one's event
// id (its Nats-Msg-Id) and JSON form; it returns how many it read. The
// host calls it at start to re-learn the events it published before a
// restart, so that workers still holding them can reply by event_id: the
// stream outlives the process that published them. It reads what the
// stream held when it was called, and stops at the first failure (with
// what it read so far) or when ctx ends.
func RecentEvents(ctx context.Context, js jetstream.JetStream, gatewayID string, max int, fn func(eventID string, data []byte)) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		return 0, nil
	}
	start := st.FirstSeq
	if st.LastSeq >= uint64(max) && st.LastSeq-uint64(max)+1 > start {
		start = st.LastSeq - uint64(max) + 1
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{GatewayEventsFilter(gatewayID)},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: recentInactive,
	})
	if err != nil {
		return 0, fmt.Errorf("read recent events: %w", err)
	}
	n := 0
	for {
		batch, err := c.FetchNoWait(recentBatch)
		if err != nil {
			return n, fmt.Errorf("read recent events: %w", err)
		}
		got, done := 0, false
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil || md.Sequence.Stream > st.LastSeq {
				done = true // past what the stream held when asked
				break
			}
			fn(m.Headers().Get(jetstream.MsgIDHeader), m.Data())
			n++
			if md.NumPending == 0 || md.Sequence.Stream == st.LastSeq {
				done = true
			}
		}
		if err := batch.Error(); err != nil && got == 0 {
			return n, fmt.Errorf("read recent events: %w", err)
		}
		if done || got == 0 || ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

// EventNotFoundError is a stream sequence that does not hold the event
// EventAt was asked for.
type EventNotFoundError struct {
	Sequence uint64
	EventID  string
	Reason   string
}

func (e *EventNotFoundError) Error() string {
	return fmt.Sprintf("stream %s sequence %d: not event %s: %s", StreamName, e.Sequence, e.EventID, e.Reason)
}

// EventAt returns the JSON form of the event stored at seq, which must be
// an event of gatewayID with event id eventID (a worker names both; the
// check keeps a worker from having the host learn another gateway's
// event, or a wrong one).
func EventAt(ctx context.Context, js jetstream.JetStream, gatewayID string, seq uint64, eventID string) ([]byte, error) {
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("stream %s sequence %d: %w", StreamName, seq, err)
	}
	if !subjectCovers(GatewayEventsFilter(gatewayID), m.Subject) {
		return nil, &EventNotFoundError{Sequence: seq, EventID: eventID, Reason: "another gateway's subject " + m.Subject}
	}
	if got := m.Header.Get(jetstream.MsgIDHeader); got != eventID {
		return nil, &EventNotFoundError{Sequence: seq, EventID: eventID, Reason: "it holds event " + got}
	}
	return m.Data, nil
}
