package relay_test

import (
	"reflect"
	"testing"

	"github.com/relayhost/relay-host/host/relay"
)

// TestBatchHoldsFramesUntilItReturns: frames written inside Batch stay held
// in the connection until Batch returns, then all reach the connector, in
// the order written.
func TestBatchHoldsFramesUntilItReturns(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	var heldInside int
	hz.c.Batch(func() {
		for _, id := range []string{"b-1", "b-2"} {
			if err := hz.c.AckInbound(id); err != nil {
				t.Fatal(err)
			}
		}
		heldInside = relay.HeldBytes(hz.c)
	})
	if heldInside == 0 {
		t.Fatal("inside Batch the acks were written at once; want them held until it returns")
	}
	if n := relay.HeldBytes(hz.c); n != 0 {
		t.Fatalf("%d bytes still held after Batch returned", n)
	}
	for _, id := range []string{"b-1", "b-2"} {
		if err := hz.srv.WaitAcked(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if acks := hz.srv.Acks(); !reflect.DeepEqual(acks, []string{"b-1", "b-2"}) {
		t.Fatalf("acks = %q; want both, in order", acks)
	}
}

// TestBatchWithoutAConnectionRunsFn: before Run there is nothing to hold.
func TestBatchWithoutAConnectionRunsFn(t *testing.T) {
	hz := newHarness(t, authed(), twoIdentities())
	ran := false
	hz.c.Batch(func() { ran = true })
	if !ran {
		t.Fatal("Batch on a client without a connection did not run fn")
	}
}
