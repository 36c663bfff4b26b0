package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"runtime/debug"
	"syscall"
	"time"
)

// Bench defaults and fixed parameters.
const (
	// DefaultCount is the number of forwards of each throughput phase:
	// about a second of the raw baseline and a few seconds end to end on
	// two cores, long enough for start-up effects and scheduling noise to
	// wash out.
	DefaultCount = 50000
	// DefaultRate is the offered rate of the latency phase: the performance
	// targets (docs/performance.md) state the latency target at 1,000
	// forwards/s.
	DefaultRate = 1000
	// DefaultLatencyCount is the size of the latency phase: five seconds at
	// DefaultRate, which puts 50 samples above the p99.
	DefaultLatencyCount = 5000
	// warmupCount forwards (at most as many as the phase itself) are sent
	// and discarded before each measured phase, so that connections, pools
	// and the GC have settled.
	warmupCount = 2000
	// readyTimeout bounds the host's start: plugins up and handshake done.
	readyTimeout = 30 * time.Second
	// probeInterval is the gap between recovery probes: well below the
	// 1 s target, and sparse enough not to load a restarting host.
	probeInterval = 2 * time.Millisecond
	// recoveryTimeout bounds the wait for a killed plugin to serve again;
	// the host's per-forward deadline is 10 s.
	recoveryTimeout = 10 * time.Second
	// benchGatewayID is the gateway id the host under test authenticates as.
	benchGatewayID = "bench"
	// benchBotID is the Discord application id forwards are addressed to.
	benchBotID = "1234567890123456789"
	// benchGCPercent is the bench process's own GOGC while it runs: it
	// allocates little that lives, so collecting less often costs a few MiB
	// and spares CPU the measured processes share.
	benchGCPercent = 400
	// discordPlugin and twilioPlugin are the bundled plugins' file names.
	discordPlugin = "relay-plugin-discord"
	twilioPlugin  = "relay-plugin-twilio"
)

// BenchConfig configures one bench run.
type BenchConfig struct {
	// Exe is the relay-host binary started as the host under test.
	Exe string
	// PluginsDir is passed as --plugins-dir; "" leaves the host's default
	// (plugins/ beside the binary).
	PluginsDir string
	// ConnectorAddr is where the load connector listens; loopback only.
	ConnectorAddr string
	// Count is the size of the raw and end-to-end throughput phases.
	Count int
	// Duration, when positive, runs the end-to-end throughput phase for
	// this long instead of Count (the raw phase still sends Count).
	Duration time.Duration
	// Window bounds forwards in flight in every phase.
	Window int
	// Rate is the offered rate of the latency phase; 0 skips that phase and
	// reports the latencies of the unbounded end-to-end phase instead.
	Rate float64
	// LatencyCount is the size of the latency phase (of forwards, and of
	// agent API actions).
	LatencyCount int
	// ActionCount is the size of the unbounded agent API actions phase; 0
	// means DefaultActionCount, a negative count skips the actions phases.
	ActionCount int
	// ActionWindow bounds the actions in flight in the unbounded actions
	// phase; DefaultActionWindow when 0.
	ActionWindow int
	// Mix is the payload mix (MixAll or MixSlash).
	Mix string
	// HostEnv is added to the host's environment (e.g. RELAY_CPUPROFILE).
	HostEnv []string
	// Progress receives one line per phase as it starts; nil discards.
	Progress io.Writer
	// Agent is the host's agent: "" or "echo" for the echo agent,
	// AgentJetStream for the JetStream agent (see jetstream.go).
	Agent string
}

// Phase is one measured phase, as reported.
type Phase struct {
	// Forwards is the number of forwards sent and acked.
	Forwards int `json:"forwards"`
	// FollowUps is the number of follow_up requests received.
	FollowUps int `json:"follow_ups"`
	// Seconds is the phase's length, first write to last ack/follow-up.
	Seconds float64 `json:"seconds"`
	// PerSecond is the throughput.
	PerSecond float64 `json:"forwards_per_second"`
	// OfferedPerSecond is the rate forwards were written at (0 when the
	// phase was unbounded and this says nothing).
	OfferedPerSecond float64 `json:"offered_per_second,omitempty"`
	// Latency percentiles of forward→ack, in milliseconds.
	P50ms  float64 `json:"p50_ms"`
	P90ms  float64 `json:"p90_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	// CPU is the CPU time each process spent per forward in this phase.
	CPU CPUPerForward `json:"cpu_us_per_forward"`
}

// CPUPerForward is CPU time per forward, in microseconds, by process. The
// figures of child processes come from /proc with 10 ms resolution, so they
// are only meaningful over phases of a second or more.
type CPUPerForward struct {
	// Bench is this process: the load connector.
	Bench float64 `json:"bench"`
	// Peer is the process under test: the raw peer, or `relay-host run`.
	Peer float64 `json:"peer"`
	// Discord is the Discord plugin (end to end only).
	Discord float64 `json:"discord_plugin,omitempty"`
}

// cpuMeter samples the CPU time of the bench, the peer process and, end to
// end, the Discord plugin.
type cpuMeter struct {
	peer, discord int
	bench, p, d   time.Duration
}

func (m *cpuMeter) start() {
	m.bench = selfCPUTime()
	m.p, _ = CPUTime(m.peer)
	if m.discord != 0 {
		m.d, _ = CPUTime(m.discord)
	}
}

func (m *cpuMeter) stop(forwards int) CPUPerForward {
	if forwards <= 0 {
		return CPUPerForward{}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(forwards) }
	c := CPUPerForward{Bench: per(selfCPUTime() - m.bench)}
	p, _ := CPUTime(m.peer)
	c.Peer = per(p - m.p)
	if m.discord != 0 {
		d, _ := CPUTime(m.discord)
		c.Discord = per(d - m.d)
	}
	return c
}

func phaseOf(r Result, rated bool) Phase {
	p := Phase{Forwards: r.Acked, FollowUps: r.FollowUps, Seconds: r.Elapsed.Seconds(), PerSecond: r.PerSecond,
		P50ms: ms(r.Latency.P50), P90ms: ms(r.Latency.P90), P99ms: ms(r.Latency.P99), MaxMs: ms(r.Latency.Max), MeanMs: ms(r.Latency.Mean)}
	if rated {
		p.OfferedPerSecond = r.OfferedPerSecond
	}
	return p
}

// MemoryReport is one process's memory, in MiB.
type MemoryReport struct {
	// PID is the process id.
	PID int `json:"pid"`
	// RSSMiB is VmRSS at the end of the end-to-end throughput phase.
	RSSMiB float64 `json:"rss_mib"`
	// PeakMiB is VmHWM, the largest resident set until then.
	PeakMiB float64 `json:"peak_mib"`
}

func memoryOf(pid int) (MemoryReport, error) {
	m, err := ReadMemory(pid)
	if err != nil {
		return MemoryReport{}, err
	}
	return MemoryReport{PID: pid, RSSMiB: float64(m.RSS) / (1 << 20), PeakMiB: float64(m.Peak) / (1 << 20)}, nil
}

// Report is everything one bench run measured.
type Report struct {
	// Mix, Payloads and MeanBodyBytes describe the forwarded bodies.
	Mix           string `json:"mix"`
	Payloads      int    `json:"payloads"`
	MeanBodyBytes int    `json:"mean_body_bytes"`
	// Window is the in-flight window.
	Window int `json:"window"`
	// Raw is the raw baseline: a WebSocket peer process (relay-host's own
	// transport) that decodes each forward and acks it.
	Raw Phase `json:"raw"`
	// EndToEnd is the unbounded end-to-end phase.
	EndToEnd Phase `json:"end_to_end"`
	// Ratio is EndToEnd.PerSecond / Raw.PerSecond.
	Ratio float64 `json:"ratio"`
	// Latency is the end-to-end phase at the offered rate (nil when it was
	// skipped with rate 0).
	Latency *Phase `json:"latency,omitempty"`
	// Host, Discord and Twilio are the processes' memory at the end of the
	// end-to-end throughput phase.
	Host    MemoryReport `json:"host_memory"`
	Discord MemoryReport `json:"discord_plugin_memory"`
	Twilio  MemoryReport `json:"twilio_plugin_memory"`
	// PluginsUpMs is the time the host took to start all plugins (its own
	// "plugins up" log line; millisecond resolution).
	PluginsUpMs float64 `json:"plugins_up_ms"`
	// HostReadyMs runs from spawning the host to its handshake.
	HostReadyMs float64 `json:"host_ready_ms"`
	// RecoveryMs runs from kill -9 of the Discord plugin to the first
	// forward served again.
	RecoveryMs float64 `json:"recovery_ms"`
	// Actions are the agent API phases (nil when skipped).
	Actions *ActionsReport `json:"actions,omitempty"`
	// Targets are the performance targets (docs/performance.md), each
	// judged.
	Targets []Target `json:"targets"`
	// Agent is the host's agent: "echo" or "jetstream".
	Agent string `json:"agent"`
	// JetStream holds what a run through the JetStream agent adds (nil
	// with the echo agent).
	JetStream *JetStreamReport `json:"jetstream,omitempty"`
}

// Target is one performance target (docs/performance.md) and whether this
// run met it.
type Target struct {
	// Name says what is measured.
	Name string `json:"name"`
	// Want is the target, as text.
	Want string `json:"want"`
	// Got is this run's figure, as text.
	Got string `json:"got"`
	// Met says whether the figure meets the target.
	Met bool `json:"met"`
	// Note qualifies the figure (e.g. a phase shorter than the target asks).
	Note string `json:"note,omitempty"`
}

// Bench runs the whole measurement: the raw baseline, then a real
// `relay-host run` child with its bundled plugins and the echo agent
// through a warm-up, an unbounded throughput phase (memory is sampled at
// its end), a latency phase at the offered rate, and a kill -9 of the
// Discord plugin; then it stops the host with SIGTERM. Each step is listed
// in benchRun.steps; an error names the step it ended.
func Bench(ctx context.Context, cfg BenchConfig) (*Report, error) {
	// The load connector is a measuring instrument: keep its own
	// collector from competing with the processes it measures (its heap is
	// a few MiB; the children set their own defaults).
	defer debug.SetGCPercent(debug.SetGCPercent(benchGCPercent))
	b := newBenchRun(cfg)
	defer b.cleanup()
	for _, step := range b.steps() {
		if err := step.run(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return b.rep, nil
}

// benchStep is one named step of a bench run.
type benchStep struct {
	name string
	run  func(ctx context.Context) error
}

// steps lists a bench run, in order.
func (b *benchRun) steps() []benchStep {
	if b.cfg.Agent == AgentJetStream {
		return b.jetStreamSteps()
	}
	return []benchStep{
		{"payloads", b.loadPayloads},
		{"load connector", b.listen},
		{"raw baseline", b.rawBaseline},
		{"start the host", b.startHost},
		{"end to end", b.endToEnd},
		{"memory", b.sampleMemory},
		{"latency phase", b.latencyPhase},
		{"agent API actions", b.actionsPhases},
		{"recovery", b.recovery},
		{"stop the host", b.stopHost},
		{"targets", b.judge},
	}
}

// benchRun is the state one bench run's steps share.
type benchRun struct {
	cfg      BenchConfig
	progress io.Writer
	payloads []Payload
	rep      *Report
	args     hostArgs     // how to start a child against the connector
	conn     *Connector   // the load connector
	raw      *hostProcess // the raw peer, once started
	host     *hostProcess // the host under test, once started
	discord  int          // the host's Discord plugin pid
	meter    cpuMeter     // the host's and its Discord plugin's CPU
	js       *jsBench     // the JetStream agent's part, with AgentJetStream
}

func newBenchRun(cfg BenchConfig) *benchRun {
	if cfg.Count <= 0 {
		cfg.Count = DefaultCount
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.LatencyCount <= 0 {
		cfg.LatencyCount = DefaultLatencyCount
	}
	if cfg.ActionCount == 0 {
		cfg.ActionCount = DefaultActionCount
	}
	if cfg.ActionWindow <= 0 {
		cfg.ActionWindow = DefaultActionWindow
	}
	if cfg.Mix == "" {
		cfg.Mix = MixAll
	}
	if cfg.Agent == "" {
		cfg.Agent = agentEcho
	}
	b := &benchRun{cfg: cfg, progress: cfg.Progress, rep: &Report{Mix: cfg.Mix, Window: cfg.Window, Agent: cfg.Agent}}
	if b.progress == nil {
		b.progress = io.Discard
	}
	return b
}

// cleanup kills the children that are still running and closes the
// connector.
func (b *benchRun) cleanup() {
	if b.host != nil {
		b.host.killIfRunning()
	}
	b.js.cleanup()
	if b.raw != nil {
		b.raw.killIfRunning()
	}
	if b.conn != nil {
		b.conn.Close()
	}
}

// loadPayloads picks the forwarded bodies of the mix.
func (b *benchRun) loadPayloads(context.Context) error {
	payloads, err := Payloads(b.cfg.Mix)
	if err != nil {
		return err
	}
	if b.cfg.Agent == AgentJetStream {
		payloads = withoutPromptAnswers(payloads)
	}
	total := 0
	for _, p := range payloads {
		total += len(p.Body)
	}
	b.payloads = payloads
	b.rep.Payloads, b.rep.MeanBodyBytes = len(payloads), total/len(payloads)
	return nil
}

// listen starts the load connector with a fresh credential.
func (b *benchRun) listen(context.Context) error {
	var key [32]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	secret := hex.EncodeToString(key[:])
	conn, err := Listen(Config{Addr: b.cfg.ConnectorAddr, GatewayID: benchGatewayID, Secret: secret, BotID: benchBotID})
	if err != nil {
		return err
	}
	b.conn = conn
	_, _ = rand.Read(key[:])
	b.args = hostArgs{exe: b.cfg.Exe, pluginsDir: b.cfg.PluginsDir, connectorURL: conn.URL(),
		gatewayID: benchGatewayID, secret: secret, botID: benchBotID, agentAPIToken: hex.EncodeToString(key[:])}
	return nil
}

// rawBaseline measures the raw peer first, while nothing else runs, and
// waits for it to leave.
func (b *benchRun) rawBaseline(ctx context.Context) error {
	fmt.Fprintf(b.progress, "raw baseline: %d forwards, window %d\n", b.cfg.Count, b.cfg.Window)
	raw, err := startRawPeer(b.args)
	if err != nil {
		return err
	}
	b.raw = raw
	if err := waitHost(ctx, b.conn, raw); err != nil {
		return err
	}
	meter := cpuMeter{peer: raw.pid()}
	res, err := runWarm(ctx, b.conn, Load{Count: b.cfg.Count, Window: b.cfg.Window, Payloads: b.payloads}, &meter)
	if err != nil {
		return fmt.Errorf("%w\nraw peer log:\n%s", err, raw.logTail())
	}
	b.rep.Raw = phaseOf(res, false)
	b.rep.Raw.CPU = meter.stop(res.Acked)
	if err := raw.stop(); err != nil {
		return err
	}
	gctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return b.conn.WaitGone(gctx)
}

// startHost spawns `relay-host run` and waits for its handshake and its
// plugins.
func (b *benchRun) startHost(ctx context.Context) error {
	fmt.Fprintf(b.progress, "starting %s run (plugins: %s)\n", b.cfg.Exe, orDefault(b.cfg.PluginsDir, "beside the binary"))
	spawned := time.Now()
	args := b.args
	args.extraEnv = b.cfg.HostEnv
	if b.js != nil {
		args.agentArgs = b.js.hostArgs()
	}
	host, err := startHost(args)
	if err != nil {
		return err
	}
	b.host = host
	if err := waitHost(ctx, b.conn, host); err != nil {
		return err
	}
	b.rep.HostReadyMs = ms(time.Since(spawned))
	up, err := host.pluginStart(ctx)
	if err != nil {
		return err
	}
	b.rep.PluginsUpMs = ms(up)
	b.discord = ChildByName(host.pid(), discordPlugin)
	if b.discord == 0 {
		return fmt.Errorf("no %s child of the host (pid %d): is it in the plugins directory?", discordPlugin, host.pid())
	}
	b.meter = cpuMeter{peer: host.pid(), discord: b.discord}
	return nil
}

// endToEnd is the unbounded throughput phase through the host.
func (b *benchRun) endToEnd(ctx context.Context) error {
	l := Load{Count: b.cfg.Count, Duration: b.cfg.Duration, Window: b.cfg.Window, Payloads: b.payloads, FollowUps: true}
	if l.Duration > 0 {
		fmt.Fprintf(b.progress, "end to end: %s unbounded, window %d\n", l.Duration, l.Window)
	} else {
		fmt.Fprintf(b.progress, "end to end: %d forwards unbounded, window %d\n", l.Count, l.Window)
	}
	res, err := runWarm(ctx, b.conn, l, &b.meter)
	if err != nil {
		return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
	}
	b.rep.EndToEnd = phaseOf(res, false)
	b.rep.EndToEnd.CPU = b.meter.stop(res.Acked)
	if b.rep.Raw.PerSecond > 0 {
		b.rep.Ratio = b.rep.EndToEnd.PerSecond / b.rep.Raw.PerSecond
	}
	return nil
}

// sampleMemory reads the processes' memory at the end of the end-to-end
// phase.
func (b *benchRun) sampleMemory(context.Context) error {
	var err error
	if b.rep.Host, err = memoryOf(b.host.pid()); err != nil {
		return err
	}
	if b.rep.Discord, err = memoryOf(b.discord); err != nil {
		return err
	}
	if twilio := ChildByName(b.host.pid(), twilioPlugin); twilio != 0 {
		b.rep.Twilio, _ = memoryOf(twilio) // informational; it may be absent
	}
	return nil
}

// latencyPhase runs at the offered rate; a zero rate skips it.
func (b *benchRun) latencyPhase(ctx context.Context) error {
	if b.cfg.Rate <= 0 {
		return nil
	}
	fmt.Fprintf(b.progress, "latency: %d forwards at %.0f/s\n", b.cfg.LatencyCount, b.cfg.Rate)
	b.meter.start()
	res, err := b.conn.Run(ctx, Load{Count: b.cfg.LatencyCount, Rate: b.cfg.Rate, Window: b.cfg.Window, Payloads: b.payloads, FollowUps: true})
	if err != nil {
		return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
	}
	p := phaseOf(res, true)
	p.CPU = b.meter.stop(res.Acked)
	b.rep.Latency = &p
	return nil
}

// recovery kills the Discord plugin with SIGKILL and times the first
// forward served again.
func (b *benchRun) recovery(ctx context.Context) error {
	fmt.Fprintf(b.progress, "recovery: kill -9 %s (pid %d)\n", discordPlugin, b.discord)
	rec, err := b.conn.Recovery(ctx, b.payloads[0], probeInterval, recoveryTimeout, func() error {
		if err := syscall.Kill(b.discord, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill %s (pid %d): %w", discordPlugin, b.discord, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
	}
	b.rep.RecoveryMs = ms(rec)
	return nil
}

// stopHost stops the host with SIGTERM and checks it exits cleanly.
func (b *benchRun) stopHost(context.Context) error {
	if err := b.host.stop(); err != nil {
		return fmt.Errorf("%w\nhost log:\n%s", err, b.host.logTail())
	}
	return nil
}

// judge sets the report's targets.
func (b *benchRun) judge(context.Context) error {
	b.rep.Targets = judge(b.rep, b.cfg)
	return nil
}

// runWarm sends a warm-up, then the measured phase, starting meter between
// the two.
func runWarm(ctx context.Context, conn *Connector, l Load, meter *cpuMeter) (Result, error) {
	warm := l
	warm.Count, warm.Duration, warm.Rate = warmupCount, 0, 0
	if l.Duration <= 0 {
		warm.Count = min(warmupCount, l.Count)
	}
	if _, err := conn.Run(ctx, warm); err != nil {
		return Result{}, fmt.Errorf("warm-up: %w", err)
	}
	meter.start()
	return conn.Run(ctx, l)
}

// waitHost waits, at most readyTimeout, for a child's handshake, failing
// early if it exits.
func waitHost(ctx context.Context, conn *Connector, host *hostProcess) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- conn.WaitReady(ctx) }()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("%s did not connect: %w\nits log:\n%s", host.name(), err, host.logTail())
		}
		return nil
	case <-host.exited():
		return fmt.Errorf("%s exited before connecting (%v):\n%s", host.name(), host.err, host.logTail())
	}
}

// The performance targets (docs/performance.md).
const (
	targetRatio      = 0.5
	targetP99        = 2 * time.Millisecond
	targetP99Rate    = 1000
	targetHostRSS    = 64 << 20
	targetDiscordRSS = 32 << 20
	targetPluginsUp  = 200 * time.Millisecond
	targetRecovery   = time.Second
	// targetActions is the agent API's throughput with
	// DefaultActionWindow actions in flight, and targetActionP99 its p99
	// at targetP99Rate actions/s offered (docs/performance.md).
	targetActions   = 10000
	targetActionP99 = 2 * time.Millisecond
	// targetMemoryRun is how long the memory target (docs/performance.md)
	// wants the sustained run to be.
	targetMemoryRun = 60 * time.Second
)

func judge(rep *Report, cfg BenchConfig) []Target {
	var out []Target
	ratio := targetRatio
	if cfg.Agent == AgentJetStream {
		ratio = targetRatioJetStream
	}
	out = append(out, Target{Name: "end-to-end throughput / raw", Want: fmt.Sprintf("≥ %.2g", ratio),
		Got: fmt.Sprintf("%.2f", rep.Ratio), Met: rep.Ratio >= ratio})
	lat := Target{Name: fmt.Sprintf("p99 forward→ack at %d/s offered", targetP99Rate), Want: fmt.Sprintf("≤ %s", targetP99)}
	if rep.Latency != nil {
		lat.Got = fmt.Sprintf("%.2f ms", rep.Latency.P99ms)
		lat.Met = rep.Latency.P99ms <= ms(targetP99)
		if cfg.Rate != targetP99Rate {
			lat.Note = fmt.Sprintf("measured at %.0f/s", cfg.Rate)
			lat.Met = false
		}
	} else {
		lat.Got, lat.Note = "not measured", "--rate 0 skips the latency phase"
	}
	out = append(out, lat)
	memNote := ""
	if cfg.Duration < targetMemoryRun {
		memNote = fmt.Sprintf("the end-to-end phase ran %.1f s; the memory target asks for 60 s (--duration 60s)", rep.EndToEnd.Seconds)
	}
	out = append(out,
		Target{Name: "host RSS after sustained load", Want: "≤ 64 MiB", Got: fmt.Sprintf("%.1f MiB", rep.Host.RSSMiB),
			Met: rep.Host.RSSMiB*(1<<20) <= targetHostRSS, Note: memNote},
		Target{Name: "Discord plugin RSS after sustained load", Want: "≤ 32 MiB", Got: fmt.Sprintf("%.1f MiB", rep.Discord.RSSMiB),
			Met: rep.Discord.RSSMiB*(1<<20) <= targetDiscordRSS, Note: memNote},
		Target{Name: "all bundled plugins up", Want: fmt.Sprintf("≤ %s", targetPluginsUp), Got: fmt.Sprintf("%.0f ms", rep.PluginsUpMs),
			Met: rep.PluginsUpMs <= ms(targetPluginsUp)},
		Target{Name: "killed plugin serving again", Want: fmt.Sprintf("≤ %s", targetRecovery), Got: fmt.Sprintf("%.0f ms", rep.RecoveryMs),
			Met: rep.RecoveryMs <= ms(targetRecovery)},
	)
	return append(out, judgeActions(rep, cfg)...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
