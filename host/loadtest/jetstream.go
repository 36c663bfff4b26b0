package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/relayhost/relay-host/host/agent/jetstream/echoworker"
)

// Agents BenchConfig.Agent names.
const (
	agentEcho = "echo"
	// AgentJetStream runs the host with --agent jetstream: its embedded
	// NATS server with file storage, and an echo worker (the library of
	// examples/agents/jetstream-echo) in the bench process, connected over
	// loopback TCP as a worker on the same machine would be.
	AgentJetStream = "jetstream"
)

// targetRatioJetStream is the end-to-end / raw throughput the JetStream
// agent aims at: each event is also written to the store, fetched by the
// worker and answered through a NATS request, so it does more than twice
// the echo agent's work per forward.
const targetRatioJetStream = 0.35

// benchWorkerConcurrency is how many events the bench's worker handles at
// once, and benchWorkerAckPending how many it may hold un-acked: a small
// fleet's worth, so that the host's 64 request slots
// (jetstream.MaxConcurrentActions) stay busy while the stream delivers and
// the worker is not what limits the run.
const (
	benchWorkerConcurrency = 16 * echoworker.DefaultConcurrency
	benchWorkerAckPending  = 4 * benchWorkerConcurrency
)

// workerStopBudget bounds the bench worker's stop: its replies in flight
// are answered within milliseconds by a healthy host.
const workerStopBudget = 10 * time.Second

// promptAnswerPayload is the payload whose event answers a prompt of
// another gateway: the JetStream host delivers through the agent API, which
// keeps such an answer from the agent, so it earns no follow-up.
const promptAnswerPayload = "button_hp1_prompt_valid"

// withoutPromptAnswers leaves promptAnswerPayload out: every phase of a
// JetStream run (the raw and echo ones too, for a like-for-like comparison)
// sends only payloads that earn one follow-up each.
func withoutPromptAnswers(ps []Payload) []Payload {
	out := make([]Payload, 0, len(ps))
	for _, p := range ps {
		if p.Name != promptAnswerPayload {
			out = append(out, p)
		}
	}
	return out
}

// JetStreamReport is what a bench run through the JetStream agent adds to
// the report.
type JetStreamReport struct {
	// EchoEndToEnd is the same unbounded end-to-end phase through a host
	// with the echo agent, in the same run, before the JetStream host.
	EchoEndToEnd Phase `json:"echo_end_to_end"`
	// EchoHost is that host's memory at the end of its phase.
	EchoHost MemoryReport `json:"echo_host_memory"`
	// RatioToEcho is EndToEnd.PerSecond / EchoEndToEnd.PerSecond.
	RatioToEcho float64 `json:"ratio_to_echo"`
	// AddedRSSMiB is the JetStream host's RSS minus the echo host's, each
	// at the end of its end-to-end phase: the embedded server's share.
	AddedRSSMiB float64 `json:"added_rss_mib"`
	// WorkerConcurrency is the bench worker's events handled at once.
	WorkerConcurrency int `json:"worker_concurrency"`
	// WorkerAcked is how many events the bench worker answered and acked.
	WorkerAcked uint64 `json:"worker_acked"`
}

// jsBench is the JetStream part of a bench run: the host's data dir and
// NATS address, and the echo worker in this process.
type jsBench struct {
	dataDir  string
	natsAddr string
	nc       *nats.Conn
	worker   *echoworker.Worker
	stop     context.CancelFunc
	done     chan struct{}
	runErr   error // the worker's Run, once done is closed
}

// jetStreamSteps lists a bench run through the JetStream agent.
func (b *benchRun) jetStreamSteps() []benchStep {
	return []benchStep{
		{"payloads", b.loadPayloads},
		{"load connector", b.listen},
		{"raw baseline", b.rawBaseline},
		{"echo host", b.echoReference},
		{"jetstream data dir", b.jetStreamSetup},
		{"start the host", b.startHost},
		{"start the worker", b.startWorker},
		{"end to end", b.endToEnd},
		{"memory", b.sampleMemory},
		{"latency phase", b.latencyPhase},
		{"recovery", b.recovery},
		{"stop the worker", b.stopWorker},
		{"stop the host", b.stopHost},
		{"jetstream figures", b.jetStreamFigures},
		{"targets", b.judge},
	}
}

// echoReference runs the end-to-end phase through a host with the echo
// agent, for the JetStream figures' comparison, and stops it.
func (b *benchRun) echoReference(ctx context.Context) error {
	b.rep.JetStream = &JetStreamReport{WorkerConcurrency: benchWorkerConcurrency}
	if err := b.startHost(ctx); err != nil {
		return err
	}
	if err := b.endToEnd(ctx); err != nil {
		return err
	}
	b.rep.JetStream.EchoEndToEnd = b.rep.EndToEnd
	mem, err := memoryOf(b.host.pid())
	if err != nil {
		return err
	}
	b.rep.JetStream.EchoHost = mem
	if err := b.host.stop(); err != nil {
		return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
	}
	b.host = nil
	gctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return b.conn.WaitGone(gctx)
}

// jetStreamSetup picks the data dir and the NATS port of the host.
func (b *benchRun) jetStreamSetup(context.Context) error {
	dir, err := os.MkdirTemp("", "relay-host-bench-nats-")
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	addr := l.Addr().String()
	l.Close()
	b.js = &jsBench{dataDir: dir, natsAddr: addr}
	fmt.Fprintf(b.progress, "jetstream: embedded server on %s, store in %s\n", addr, dir)
	return nil
}

// hostArgs are the JetStream host's agent flags.
func (j *jsBench) hostArgs() []string {
	return []string{"--agent", AgentJetStream, "--data-dir", j.dataDir, "--nats-listen", j.natsAddr}
}

// startWorker connects the echo worker to the host's embedded server with
// the token it generated, and runs it. (A worker that cannot make its
// consumer stalls the next phase; stopWorker reports why.)
func (b *benchRun) startWorker(ctx context.Context) error {
	j := b.js
	token, err := os.ReadFile(filepath.Join(j.dataDir, "nats.token"))
	if err != nil {
		return fmt.Errorf("the host's nats token: %w", err)
	}
	j.nc, err = nats.Connect("nats://"+j.natsAddr, nats.Token(strings.TrimSpace(string(token))), nats.Name("bench worker"))
	if err != nil {
		return fmt.Errorf("connect the worker: %w", err)
	}
	j.worker = echoworker.New(j.nc, echoworker.Config{GatewayID: benchGatewayID, Concurrency: benchWorkerConcurrency, MaxAckPending: benchWorkerAckPending,
		Logger: slog.New(slog.DiscardHandler)})
	wctx, cancel := context.WithCancel(context.Background())
	j.stop, j.done = cancel, make(chan struct{})
	go func() {
		defer close(j.done)
		j.runErr = j.worker.Run(wctx)
	}()
	return ctx.Err()
}

// stopWorker stops the worker, which finishes the replies it asked for.
func (b *benchRun) stopWorker(context.Context) error {
	j := b.js
	j.stop()
	t := time.NewTimer(workerStopBudget)
	defer t.Stop()
	select {
	case <-j.done:
	case <-t.C:
		return fmt.Errorf("the echo worker did not stop within %s", workerStopBudget)
	}
	b.rep.JetStream.WorkerAcked = j.worker.Stats().Acked
	j.nc.Close()
	if j.runErr != nil {
		return fmt.Errorf("echo worker: %w", j.runErr)
	}
	return nil
}

// jetStreamFigures computes the comparisons with the echo host.
func (b *benchRun) jetStreamFigures(context.Context) error {
	r := b.rep.JetStream
	if r.EchoEndToEnd.PerSecond > 0 {
		r.RatioToEcho = b.rep.EndToEnd.PerSecond / r.EchoEndToEnd.PerSecond
	}
	r.AddedRSSMiB = b.rep.Host.RSSMiB - r.EchoHost.RSSMiB
	return nil
}

// cleanup stops the worker if it still runs and removes the data dir.
func (j *jsBench) cleanup() {
	if j == nil {
		return
	}
	if j.stop != nil {
		j.stop()
		if j.nc != nil {
			j.nc.Close() // replies in flight fail at once
		}
		<-j.done
	}
	os.RemoveAll(j.dataDir)
}
