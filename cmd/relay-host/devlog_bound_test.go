package main

import (
	"fmt"
	"io"
	"testing"

	"github.com/relayhost/relay-host/host/edge"
)

// TestDevLogForgetsOldForwards reports many more forwards than the dev log
// remembers: it keeps only the newest announceMemory, so a long dev session
// does not grow with every request.
func TestDevLogForgetsOldForwards(t *testing.T) {
	t.Parallel()
	l := newDevLog(io.Discard, false, "echo")
	for i := range 3 * announceMemory {
		l.edgeEvent(edge.Forwarded{Delivery: edge.Delivery{BufferID: fmt.Sprintf("pbuf-%d", i)}})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.announced) != announceMemory || len(l.announcedOrder) != announceMemory {
		t.Fatalf("the dev log remembers %d forwards (%d in order), want the last %d", len(l.announced), len(l.announcedOrder), announceMemory)
	}
	if newest := fmt.Sprintf("pbuf-%d", 3*announceMemory-1); !l.announced[newest] {
		t.Fatalf("the newest forward %s was forgotten", newest)
	}
}
