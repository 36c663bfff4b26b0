package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of a Load.
const (
	// DefaultWindow is the in-flight window: forwards sent and not yet
	// acked. It matches the host's dispatch bound (plugins.DefaultMaxInFlight),
	// so an unbounded run keeps the host's pipeline full without queueing
	// work the host would only park.
	DefaultWindow = 256
	// DefaultStallTimeout aborts a phase when nothing was acked for this
	// long: a forward takes milliseconds end to end, and the host's own
	// per-forward deadline is 10 s, so 15 s of silence means it is lost.
	DefaultStallTimeout = 15 * time.Second
)

// Load describes one load phase.
type Load struct {
	// Count is the number of forwards to send (when Duration is zero).
	Count int
	// Duration, when positive, sends for this long instead of Count.
	Duration time.Duration
	// Rate is the offered rate in forwards per second; 0 sends as fast as
	// the window allows.
	Rate float64
	// Window bounds the forwards in flight; 0 means DefaultWindow.
	Window int
	// Payloads are cycled through, one per forward; required.
	Payloads []Payload
	// FollowUps makes the phase also wait for one follow_up per forward
	// (the end-to-end path answers each with an echo; the raw peer never
	// does).
	FollowUps bool
	// StallTimeout: DefaultStallTimeout when zero.
	StallTimeout time.Duration
}

// Result is what one phase measured.
type Result struct {
	// Sent and Acked count forwards; FollowUps counts follow_up requests
	// received during the phase.
	Sent, Acked, FollowUps int
	// Elapsed runs from the first write to the last ack (and follow-up,
	// when they are waited for).
	Elapsed time.Duration
	// PerSecond is Acked / Elapsed.
	PerSecond float64
	// OfferedPerSecond is the rate forwards were actually written at.
	OfferedPerSecond float64
	// Latency is forward→ack: from just before the forward's write to the
	// arrival of its inbound_ack.
	Latency Latency
}

// Latency summarises forward→ack latencies.
type Latency struct {
	P50, P90, P99, Max, Mean time.Duration
}

// summarise computes the latency summary of samples (sorted in place).
func summarise(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	at := func(q float64) time.Duration {
		// Nearest rank: the smallest sample with at least q of them at or below it.
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return samples[max(i, 0)]
	}
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: samples[len(samples)-1],
		Mean: sum / time.Duration(len(samples))}
}

// tracker is the state of one phase shared between the sender and the
// connection's reader.
type tracker struct {
	tag   string        // bufferId prefix of this phase, "lt<n>-"
	slots chan struct{} // window; nil for an unbounded one
	wake  chan struct{} // poked (never blocking) on every ack and follow-up

	mu        sync.Mutex
	sentAt    map[uint64]time.Time
	latencies []time.Duration
	acked     int
	lastAck   time.Time
}

func (r *tracker) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// settle records the ack of id; it reports false when id is not a forward
// of this phase still in flight.
func (r *tracker) settle(id []byte) bool {
	now := time.Now()
	rest, ok := cutPrefix(id, r.tag)
	if !ok {
		return false
	}
	seq, err := strconv.ParseUint(string(rest), 10, 64)
	if err != nil {
		return false
	}
	r.mu.Lock()
	at, ok := r.sentAt[seq]
	if ok {
		delete(r.sentAt, seq)
		r.latencies = append(r.latencies, now.Sub(at))
		r.acked++
		r.lastAck = now
	}
	r.mu.Unlock()
	if !ok {
		return false
	}
	if r.slots != nil {
		<-r.slots
	}
	r.poke()
	return true
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return nil, false
	}
	return b[len(prefix):], true
}

func (c *Connector) begin(window int) *tracker {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextRun++
	r := &tracker{tag: "lt" + strconv.Itoa(c.nextRun) + "-", wake: make(chan struct{}, 1), sentAt: map[uint64]time.Time{}}
	if window > 0 {
		r.slots = make(chan struct{}, window)
	}
	c.run = r
	return r
}

func (c *Connector) end(r *tracker) {
	c.mu.Lock()
	if c.run == r {
		c.run = nil
	}
	c.mu.Unlock()
}

// ErrNoPeer is returned when no peer has completed its handshake, or the
// peer went away during a phase.
var ErrNoPeer = errors.New("no peer connected to the load connector")

// send queues forward number seq of phase r, built from template t.
func (c *Connector) send(p *peer, r *tracker, t forwardTemplate, seq uint64) error {
	buf := c.frames.Get().([]byte)
	buf = append(buf, t.prefix...)
	buf = append(buf, r.tag...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, forwardSuffix...)
	now := time.Now()
	r.mu.Lock()
	r.sentAt[seq] = now
	r.mu.Unlock()
	if !p.queue(buf) {
		return fmt.Errorf("%w: it went away", ErrNoPeer)
	}
	return nil
}

// Run pushes one phase of load to the connected peer and waits until every
// forward was acked (and, with FollowUps, followed up). It fails when the
// peer goes away, or nothing is acked for StallTimeout.
func (c *Connector) Run(ctx context.Context, l Load) (Result, error) {
	if len(l.Payloads) == 0 {
		return Result{}, errors.New("load: no payloads")
	}
	if l.Count <= 0 && l.Duration <= 0 {
		return Result{}, errors.New("load: want a positive count or duration")
	}
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	if l.StallTimeout <= 0 {
		l.StallTimeout = DefaultStallTimeout
	}
	p, _ := c.current()
	if p == nil {
		return Result{}, ErrNoPeer
	}
	tmpl := c.templates(l.Payloads)
	r := c.begin(l.Window)
	defer c.end(r)
	followBase := c.followUps.Load()

	stall := time.NewTimer(l.StallTimeout)
	defer stall.Stop()
	var interval time.Duration
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) / l.Rate)
	}
	start := time.Now()
	sent := 0
	for ; ; sent++ {
		if l.Duration > 0 {
			if time.Since(start) >= l.Duration {
				break
			}
		} else if sent == l.Count {
			break
		}
		// Wait for room in the window.
	acquire:
		for {
			select {
			case r.slots <- struct{}{}:
				break acquire
			case <-r.wake:
				resetTimer(stall, l.StallTimeout)
			case <-stall.C:
				return c.stalled(r, sent, l.StallTimeout)
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(sent) * interval)); d > 0 {
				if err := sleep(ctx, d); err != nil {
					return Result{}, err
				}
			}
		}
		if err := c.send(p, r, tmpl[sent%len(tmpl)], uint64(sent)); err != nil {
			return Result{}, err
		}
	}
	sendEnd := time.Now()
	resetTimer(stall, l.StallTimeout)
	for {
		r.mu.Lock()
		acked, last := r.acked, r.lastAck
		r.mu.Unlock()
		follow := int(c.followUps.Load() - followBase)
		if acked == sent && (!l.FollowUps || follow >= sent) {
			end := last
			if l.FollowUps {
				end = time.Now() // the last follow-up, which comes after the last ack
			}
			res := Result{Sent: sent, Acked: acked, FollowUps: follow, Elapsed: end.Sub(start)}
			res.PerSecond = float64(acked) / res.Elapsed.Seconds()
			if d := sendEnd.Sub(start); d > 0 {
				res.OfferedPerSecond = float64(sent) / d.Seconds()
			}
			r.mu.Lock()
			res.Latency = summarise(r.latencies)
			r.mu.Unlock()
			return res, nil
		}
		select {
		case <-r.wake:
			resetTimer(stall, l.StallTimeout)
		case <-stall.C:
			return c.stalled(r, sent, l.StallTimeout)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
}

func (c *Connector) stalled(r *tracker, sent int, d time.Duration) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, _ := c.current(); p == nil {
		return Result{}, fmt.Errorf("%w: it went away with %d of %d forwards un-acked", ErrNoPeer, sent-r.acked, sent)
	}
	return Result{}, fmt.Errorf("nothing acked for %s: %d of %d forwards sent are un-acked (follow-ups so far: %d)",
		d, sent-r.acked, sent, c.followUps.Load())
}

// Recovery measures how long a peer takes to serve again after kill (for
// example kill -9 of its plugin): it calls kill, then sends a probe forward
// every interval until one is acked, and returns the time from kill to
// that ack. Probes sent into the dying plugin fail un-acked (the real
// connector would redeliver them); probes sent while it restarts wait for
// it and are served.
func (c *Connector) Recovery(ctx context.Context, payload Payload, interval, timeout time.Duration, kill func() error) (time.Duration, error) {
	p, _ := c.current()
	if p == nil {
		return 0, ErrNoPeer
	}
	tmpl := c.templates([]Payload{payload})[0]
	r := c.begin(0)
	defer c.end(r)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	if err := kill(); err != nil {
		return 0, err
	}
	for seq := uint64(0); ; seq++ {
		if err := c.send(p, r, tmpl, seq); err != nil {
			return 0, err
		}
		select {
		case <-r.wake:
			r.mu.Lock()
			acked, at := r.acked, r.lastAck
			r.mu.Unlock()
			if acked > 0 {
				return at.Sub(start), nil
			}
		case <-tick.C:
		case <-ctx.Done():
			return 0, fmt.Errorf("no probe was served within %s of the kill: %w", timeout, ctx.Err())
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d) // Go ≥ 1.23: Stop+Reset never delivers a stale tick
}
