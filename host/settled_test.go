package host

import (
	"fmt"
	"strings"
	"testing"
)

// The replay ledger is bounded in bytes, not only in entries: 4,000
// settled forwards with 64 KiB bufferIds kept about 300 MB (issue 15,
// Medium 3). Whatever the ids' size, what it remembers stays within
// settledMaxBytes, and the newest ids are the ones remembered.
func TestSettledLedgerIsBoundedInBytes(t *testing.T) {
	for _, size := range []int{12, 256, 64 << 10} {
		t.Run(fmt.Sprintf("%d-byte ids", size), func(t *testing.T) {
			l := newBufferLedger()
			pad := strings.Repeat("x", size)
			id := func(i int) string { s := fmt.Sprintf("%d-%s", i, pad); return s[:size] }
			const n = 4000
			for i := range n {
				if l.claim(id(i)) != claimed {
					t.Fatalf("id %d claimed twice", i)
				}
				l.release(id(i), true)
			}
			held := 0
			for k := range l.settled {
				held += len(k)
			}
			if held > settledMaxBytes {
				t.Fatalf("the ledger holds %d bytes of ids, over %d", held, settledMaxBytes)
			}
			if l.claim(id(n-1)) != alreadyDone {
				t.Fatalf("the newest settled id was forgotten")
			}
			if size == 12 && l.claim(id(0)) != alreadyDone {
				t.Fatalf("a short id was forgotten while far below both bounds")
			}
		})
	}
}
