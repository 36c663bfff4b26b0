package devconnector

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// TestAckedForwardsAreForgotten pushes forwards to a connected gateway and
// acks them all: the connector then remembers nothing of them, so a long
// dev session does not grow with every request.
func TestAckedForwardsAreForgotten(t *testing.T) {
	var (
		acks  notify.Signal
		mu    sync.Mutex
		acked int
	)
	s := start(t, Options{OnFrame: func(f Frame) {
		if f.Type == "inbound_ack" {
			mu.Lock()
			acked++
			mu.Unlock()
			acks.Notify()
		}
	}})
	g := dial(t, s)
	g.send(`{"type":"hello","platform":"discord","botId":"1"}`)
	if f := g.next(); f.Descriptor == nil {
		t.Fatalf("first frame = %+v, want the descriptor", f)
	}
	const n = 100
	for i := range n {
		id, pushed := s.Enqueue(pluginapi.Forward{Platform: "discord", Path: fmt.Sprintf("/%d", i)})
		if !pushed {
			t.Fatalf("forward %d not pushed", i)
		}
		if f := g.next(); f.Forward == nil || f.Forward.BufferID != id {
			t.Fatalf("frame %d = %+v, want forward %s", i, f, id)
		}
		g.send(`{"type":"inbound_ack","bufferId":"` + id + `"}`)
	}
	if err := acks.Wait(deadline(t), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return acked == n
	}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buffer) != 0 {
		t.Errorf("%d forwards still buffered after their acks", len(s.buffer))
	}
	for _, sc := range s.conns {
		if len(sc.sent) != 0 {
			t.Errorf("connection %d still remembers %d acked forwards", sc.id, len(sc.sent))
		}
	}
}

// TestIdleConnectionIsClosed keeps an HTTP connection open without a new
// request: the connector closes it after its idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := start(t, Options{idleTimeout: idle})
	s.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong") })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server's idle timer starts once it has written the answer, which
	// is after the request was sent: a lower bound that a slow read of the
	// answer cannot move past it.
	sent := time.Now()
	if _, err := io.WriteString(conn, "GET /ping HTTP/1.1\r\nHost: dev\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := conn.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the idle connection is still open after %s", waitTimeout)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read on the idle connection: %v, want EOF", err)
	}
	if d := time.Since(sent); d < idle {
		t.Fatalf("closed after %s, before the %s idle timeout", d, idle)
	}
}
