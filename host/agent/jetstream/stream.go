package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream defaults, the values of the --nats-* flags when not given.
const (
	// DefaultMaxBytes bounds the stream's size on disk (--nats-max-bytes):
	// at ~1 KiB an event, about a million events, days of a busy bot.
	DefaultMaxBytes = 1 << 30
	// DefaultMaxAge bounds how long an event is kept (--nats-max-age): a
	// week covers a worker fleet down over a long weekend.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultReplicas is 1 for the embedded server; 3 on a cluster
	// (--nats-replicas) survives the loss of one node.
	DefaultReplicas = 1
	// DefaultDuplicateWindow is how long JetStream remembers a Nats-Msg-Id
	// (--nats-dedupe-window): the connector redelivers an un-acked forward
	// on its next connection, seconds to a minute later; 2 minutes covers
	// that with room. Beyond it, workers still dedupe on event_id.
	DefaultDuplicateWindow = 2 * time.Minute
)

// StreamConfig is what EnsureStream creates RELAY_EVENTS with, and checks an
// existing stream against. Zero fields take the defaults above.
type StreamConfig struct {
	// GatewayID is this gateway's id; the stream's subjects must cover its
	// events.
	GatewayID       string
	MaxBytes        int64
	MaxAge          time.Duration
	Replicas        int
	DuplicateWindow time.Duration
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	return c
}

// streamConfig is the JetStream configuration RELAY_EVENTS is created with.
// Limits retention: a worker's ack does not delete an event, so several
// consumer groups can read the stream. Discard old: when a bound is reached
// the oldest events go, so a stream whose workers keep up never blocks the
// gateway (with limits retention, acked events stay until a bound removes
// them, so "discard new" would eventually refuse every event).
func (c StreamConfig) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:         StreamName,
		Description:  "relay-host events (docs/agents.md, Scale-out: the JetStream agent)",
		Subjects:     []string{StreamSubjects},
		Retention:    jetstream.LimitsPolicy,
		Storage:      jetstream.FileStorage,
		Discard:      jetstream.DiscardOld,
		MaxBytes:     c.MaxBytes,
		MaxAge:       c.MaxAge,
		Replicas:     c.Replicas,
		Duplicates:   c.DuplicateWindow,
		MaxMsgs:      -1,
		MaxMsgSize:   -1,
		MaxConsumers: -1,
	}
}

// SubjectsError is an existing RELAY_EVENTS stream whose subjects do not
// cover this gateway's events: publishing would fail, so it is refused.
type SubjectsError struct {
	Stream   string
	Subjects []string
	Want     string // the filter that must be covered, relay.v1.events.<gw>.*
}

func (e *SubjectsError) Error() string {
	return fmt.Sprintf("stream %s has subjects [%s], which do not cover %s",
		e.Stream, strings.Join(e.Subjects, ", "), e.Want)
}

// EnsureStream makes sure RELAY_EVENTS exists and takes this gateway's
// events. Absent, it is created from cfg. Present, it is used as it is:
// each setting that differs from cfg is named in a warning (the operator
// changes the stream with the nats CLI, relay-host never does), and it is
// refused with a *SubjectsError only when its subjects do not cover
// relay.v1.events.<gateway_id>.*.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (warnings []string, err error) {
	cfg = cfg.withDefaults()
	want := cfg.streamConfig()
	s, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
		}
		// Another relay-host created it meanwhile: check theirs.
		s, err = js.Stream(ctx, StreamName)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", StreamName, err)
	}
	have := s.CachedInfo().Config
	filter := GatewayEventsFilter(cfg.GatewayID)
	if !subjectsCover(have.Subjects, filter) {
		return nil, &SubjectsError{Stream: StreamName, Subjects: have.Subjects, Want: filter}
	}
	return streamDifferences(have, want), nil
}

// streamDifferences names each setting of have that differs from want.
func streamDifferences(have, want jetstream.StreamConfig) []string {
	var w []string
	differs := func(name string, got, flag any) {
		w = append(w, fmt.Sprintf("stream %s: %s is %v, the flags ask for %v (the stream is used as it is)",
			StreamName, name, got, flag))
	}
	if have.MaxBytes != want.MaxBytes {
		differs("max_bytes (--nats-max-bytes)", have.MaxBytes, want.MaxBytes)
	}
	if have.MaxAge != want.MaxAge {
		differs("max_age (--nats-max-age)", have.MaxAge, want.MaxAge)
	}
	if have.Replicas != want.Replicas {
		differs("replicas (--nats-replicas)", have.Replicas, want.Replicas)
	}
	if have.Duplicates != want.Duplicates {
		differs("duplicate_window (--nats-dedupe-window)", have.Duplicates, want.Duplicates)
	}
	if have.Storage != want.Storage {
		differs("storage", have.Storage, want.Storage)
	}
	if have.Retention != want.Retention {
		differs("retention", have.Retention, want.Retention)
	}
	return w
}

// subjectsCover reports whether one of subjects matches every subject the
// filter matches. filter is literal tokens ending in one "*".
func subjectsCover(subjects []string, filter string) bool {
	for _, s := range subjects {
		if subjectCovers(s, filter) {
			return true
		}
	}
	return false
}

// subjectCovers reports whether the stream subject s (which may hold "*"
// and a final ">") matches every subject the filter f matches.
func subjectCovers(s, f string) bool {
	st := strings.Split(s, ".")
	ft := strings.Split(f, ".")
	for i, tok := range st {
		if tok == ">" {
			return i < len(ft) // ">" needs at least one token
		}
		if i >= len(ft) {
			return false
		}
		if tok != "*" && tok != ft[i] { // a literal covers only itself, never "*"
			return false
		}
	}
	return len(st) == len(ft)
}
