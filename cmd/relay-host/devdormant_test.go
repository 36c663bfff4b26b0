package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestDevDormantWakesOnARequest runs `relay-host dev --dormant-after` as a
// real process: the host goes dormant and says so; a POSTed interaction is
// buffered, the embedded connector calls the host's wake URL, and the
// replay is served and followed up.
func TestDevDormantWakesOnARequest(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"NO_COLOR=1", "RELAY_LOG_LEVEL=warn"}, "dev", "--addr", "127.0.0.1:0", "--agent-api", "127.0.0.1:0", "--dormant-after", "300ms")
	ctx, cancel := context.WithTimeout(t.Context(), devTestWait)
	defer cancel()
	var lines []string
	// next returns the first line from now on that matches re.
	next := func(re *regexp.Regexp) []string {
		t.Helper()
		for {
			select {
			case line, ok := <-p.lines:
				if !ok {
					t.Fatalf("relay-host exited; output:\n%s\nstderr:\n%s", strings.Join(lines, "\n"), p.stderr.String())
				}
				lines = append(lines, line)
				if m := re.FindStringSubmatch(line); m != nil {
					return m
				}
			case <-ctx.Done():
				t.Fatalf("no line matching %s; output so far:\n%s", re, strings.Join(lines, "\n"))
			}
		}
	}
	discordURL := next(regexp.MustCompile(`^Discord interactions\s+POST (\S+)$`))[1]
	wakeURL := next(regexp.MustCompile(`^Dormancy\s+after 300ms without activity the host goes dormant; a request wakes it through (\S+)$`))[1]
	next(regexp.MustCompile(`^\s+host\s+dormant: nothing for 300ms`))

	body := `{"type":2,"id":"dormant-1","token":"dormant-token","channel_id":"c1","guild_id":"g1",` +
		`"member":{"user":{"id":"u1","username":"you"}},"data":{"name":"hello","options":[{"type":3,"name":"text","value":"wake up"}]}}`
	resp, err := http.Post(discordURL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("interaction answered %d", resp.StatusCode)
	}
	next(regexp.MustCompile(`^\s+buffered\s+pbuf-1 `))
	next(regexp.MustCompile(`^\s+connector\s+work buffered for the dormant host: GET ` + regexp.QuoteMeta(wakeURL) + ` → 202$`))
	next(regexp.MustCompile(`^\s+host\s+connected \(link 2\): .*replaying 1 buffered forward: pbuf-1`))
	next(regexp.MustCompile(`^\s+host\s+awake: connected again`))
	next(regexp.MustCompile(`^\s+acked\s+pbuf-1 `))
	next(regexp.MustCompile(`^\s+follow-up\s+.*matched interaction dormant-1: echo: /hello wake up$`))
	if strings.Contains(strings.Join(lines, "\n")+p.stderr.String(), "dormant-token") {
		t.Error("the interaction token was printed")
	}

	p.signal(t, syscall.SIGINT)
	for line := range p.lines {
		lines = append(lines, line)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0:\n%s", code, p.stderr.String())
	}
}
