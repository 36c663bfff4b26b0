package jetstream_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

func TestEnsureStreamCreatesWithSettings(t *testing.T) {
	e := startServer(t, t.TempDir())
	j := jsCtx(t, connect(t, e, "t"))
	ctx := ctxFor(t)
	warnings, err := js.EnsureStream(ctx, j, js.StreamConfig{GatewayID: "gw"})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("EnsureStream = %v, %v", warnings, err)
	}
	s, err := j.Stream(ctx, js.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	for _, chk := range []struct {
		what      string
		got, want any
	}{
		{"subjects", strings.Join(c.Subjects, ","), "relay.v1.events.>"},
		{"retention", c.Retention, jetstream.LimitsPolicy},
		{"storage", c.Storage, jetstream.FileStorage},
		{"discard", c.Discard, jetstream.DiscardOld},
		{"max bytes", c.MaxBytes, int64(1 << 30)},
		{"max age", c.MaxAge, 7 * 24 * time.Hour},
		{"replicas", c.Replicas, 1},
		{"duplicate window", c.Duplicates, 2 * time.Minute},
	} {
		if chk.got != chk.want {
			t.Errorf("%s = %v, want %v", chk.what, chk.got, chk.want)
		}
	}
	// A second EnsureStream with the same flags: no warning, no change.
	warnings, err = js.EnsureStream(ctx, j, js.StreamConfig{GatewayID: "other-gw"})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("EnsureStream again = %v, %v", warnings, err)
	}
}

func TestEnsureStreamExistingDifferentLimitsWarns(t *testing.T) {
	e := startServer(t, t.TempDir())
	j := jsCtx(t, connect(t, e, "t"))
	ctx := ctxFor(t)
	if _, err := j.CreateStream(ctx, jetstream.StreamConfig{
		Name: js.StreamName, Subjects: []string{"relay.v1.events.>"}, Storage: jetstream.MemoryStorage,
		MaxBytes: 1 << 20, MaxAge: time.Hour, Duplicates: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	warnings, err := js.EnsureStream(ctx, j, js.StreamConfig{GatewayID: "gw"})
	if err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	all := strings.Join(warnings, "\n")
	for _, want := range []string{"--nats-max-bytes", "--nats-max-age", "--nats-dedupe-window", "storage"} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning names %s; warnings:\n%s", want, all)
		}
	}
	if strings.Contains(all, "replicas") || strings.Contains(all, "retention") {
		t.Errorf("a warning for a setting that matches:\n%s", all)
	}
	if len(warnings) != 4 {
		t.Errorf("%d warnings, want 4:\n%s", len(warnings), all)
	}
	// Used as it is: not changed.
	s, _ := j.Stream(ctx, js.StreamName)
	if s.CachedInfo().Config.MaxBytes != 1<<20 {
		t.Fatalf("EnsureStream changed the existing stream")
	}
}

func TestEnsureStreamSubjectsMustCoverGateway(t *testing.T) {
	for _, tc := range []struct {
		name     string
		subjects []string
		ok       bool
	}{
		{"this gateway's wildcard", []string{"relay.v1.events.gw.*"}, true},
		{"this gateway's tail wildcard", []string{"relay.v1.events.gw.>"}, true},
		{"any gateway, one token", []string{"relay.v1.events.*.*"}, true},
		{"one of several subjects", []string{"other.>", "relay.v1.events.*.>"}, true},
		{"another gateway only", []string{"relay.v1.events.other.>"}, false},
		{"one platform only", []string{"relay.v1.events.gw.discord"}, false},
		{"a deeper filter", []string{"relay.v1.events.gw.*.x"}, false},
		{"a deeper tail wildcard (\">\" needs a token)", []string{"relay.v1.events.gw.*.>"}, false},
		{"the prefix without a tail", []string{"relay.v1.events.gw"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startServer(t, t.TempDir())
			j := jsCtx(t, connect(t, e, "t"))
			ctx := ctxFor(t)
			if _, err := j.CreateStream(ctx, jetstream.StreamConfig{Name: js.StreamName, Subjects: tc.subjects}); err != nil {
				t.Fatal(err)
			}
			_, err := js.EnsureStream(ctx, j, js.StreamConfig{GatewayID: "gw"})
			var se *js.SubjectsError
			if tc.ok {
				if err != nil {
					t.Fatalf("EnsureStream: %v", err)
				}
				return
			}
			if !errors.As(err, &se) || se.Want != "relay.v1.events.gw.*" || se.Stream != js.StreamName {
				t.Fatalf("EnsureStream = %v, want a *SubjectsError for relay.v1.events.gw.*", err)
			}
			if !strings.Contains(err.Error(), tc.subjects[0]) {
				t.Fatalf("error does not name the stream's subjects: %v", err)
			}
		})
	}
}
