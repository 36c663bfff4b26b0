package jetstream_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

// benchInFlight is how many publishes wait for their PubAck at once: the
// host publishes the events of up to that many forwards concurrently.
const benchInFlight = 64

// BenchmarkEmbeddedPublish publishes b.N events of 1 KiB to an embedded
// server with 64 publishes in flight, each waiting for its PubAck, and
// reports events/s and how much the test process's resident memory grew
// from its start (before any server ran) to the end of the run: the server,
// the client, the test's own garbage and the benchmark's 1-event warm-up
// run, so an upper bound on what the embedded server adds:
//
//	go test -run '^$' -bench BenchmarkEmbeddedPublish -benchtime 10000x ./host/agent/jetstream/
func BenchmarkEmbeddedPublish(b *testing.B) {
	e := startServer(b, b.TempDir())
	p, _ := newPublisher(b, e, nil)
	benchPublish(b, p)
}

// BenchmarkEmbeddedPublishInProcess is BenchmarkEmbeddedPublish with the
// publisher connected in-process (ConnectConfig.InProcess), as the host
// connects to its own embedded server.
func BenchmarkEmbeddedPublishInProcess(b *testing.B) {
	e := startServer(b, b.TempDir())
	nc, err := js.Connect(js.ConnectConfig{URLs: []string{e.ClientURL()}, InProcess: e.InProcess(), Token: e.Token()})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	if _, err := js.EnsureStream(ctxFor(b), jsCtx(b, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		b.Fatal(err)
	}
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw"})
	if err != nil {
		b.Fatal(err)
	}
	benchPublish(b, p)
}

func benchPublish(b *testing.B, p *js.Publisher) {
	payload := bytes.Repeat([]byte("x"), 1024)
	var next atomic.Int64
	var failed atomic.Int64
	ctx := ctxFor(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := p.Publish(ctx, "bench/"+strconv.FormatInt(i, 10), "discord", payload); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
	if rssAtStart > 0 {
		b.ReportMetric(float64(vmRSS(b)-rssAtStart)/(1<<20), "rss-added-MiB")
	}
}

// vmRSS reads this process's resident set size in bytes.
func vmRSS(tb testing.TB) int64 {
	n := readVMRSS()
	if n == 0 {
		tb.Fatal("cannot read VmRSS from /proc/self/status")
	}
	return n
}

// readVMRSS returns VmRSS from /proc/self/status in bytes, or 0.
func readVMRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}
