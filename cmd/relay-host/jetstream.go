package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/agent/jetstream/echoworker"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/relay"
)

// The JetStream agent's start-up and shutdown budgets.
const (
	// streamSetupTimeout bounds creating or checking RELAY_EVENTS at start.
	// A cluster started at the same time as relay-host elects its
	// JetStream meta leader within seconds (longer on a loaded machine);
	// until then every attempt fails and is retried.
	streamSetupTimeout = 30 * time.Second
	// streamSetupAttempt bounds one attempt: a round trip to the cluster.
	streamSetupAttempt = 5 * time.Second
	// streamSetupRetry is the pause between attempts.
	streamSetupRetry = 500 * time.Millisecond
	// natsStopBudget bounds draining the NATS connection and stopping the
	// embedded server (flushing its store) at shutdown.
	natsStopBudget = 5 * time.Second
	// relearnTimeout bounds reading the stream's recent events at start:
	// 10,000 events of about 1 KiB are read in well under a second.
	relearnTimeout = 10 * time.Second
	// actionsStopBudget bounds the wait for workers' requests in progress
	// at shutdown, after which they are cancelled (the workers then Nak
	// their events and get them again on the next run).
	actionsStopBudget = 2 * time.Second
)

// natsSyncAlways is the one value --nats-sync takes.
const natsSyncAlways = "always"

// jetstreamOptions are the --data-dir and --nats-* flags.
type jetstreamOptions struct {
	dataDir   string
	listen    string
	urls      string
	creds     string
	tokenFile string
	replicas  intValue
	maxBytes  sizeValue
	maxAge    durationValue
	dedupe    durationValue
	sync      string
}

// jetstreamFlags adds the JetStream agent's flags. dataDirDefault is
// --data-dir's default ("" for dev mode's temporary directory), described
// by dataDirUsage.
func (fs *flagSet) jetstreamFlags(o *jetstreamOptions, dataDirDefault, dataDirUsage string) error {
	o.replicas = intValue(jetstream.DefaultReplicas)
	o.maxBytes = sizeValue(jetstream.DefaultMaxBytes)
	o.maxAge = durationValue(jetstream.DefaultMaxAge)
	o.dedupe = durationValue(jetstream.DefaultDuplicateWindow)
	fs.stringVar(&o.dataDir, "data-dir", "RELAY_DATA_DIR", dataDirDefault, dataDirUsage)
	fs.stringVar(&o.listen, "nats-listen", "RELAY_NATS_LISTEN", jetstream.DefaultListen,
		"--agent jetstream: the embedded NATS server's client address, loopback only (127.0.0.1:0 picks a free port)")
	fs.stringVar(&o.urls, "nats-url", "RELAY_NATS_URL", "",
		"--agent jetstream: use these NATS servers (URL[,URL…]: nats://, tls://, ws://, wss:// or host:port) instead of the embedded server")
	fs.stringVar(&o.creds, "nats-creds", "RELAY_NATS_CREDS", "",
		"--agent jetstream: NATS credentials file (JWT and NKey seed) for --nats-url")
	fs.stringVar(&o.tokenFile, "nats-token-file", "RELAY_NATS_TOKEN_FILE", "",
		"--agent jetstream: file holding the NATS token (default with the embedded server: <data-dir>/nats.token, generated mode 0600)")
	for _, v := range []struct {
		value          flag.Value
		name, env, use string
	}{
		{&o.replicas, "nats-replicas", "RELAY_NATS_REPLICAS", "--agent jetstream: copies of the RELAY_EVENTS stream (3 on a cluster survives one node down)"},
		{&o.maxBytes, "nats-max-bytes", "RELAY_NATS_MAX_BYTES", "--agent jetstream: the stream's bound on disk, e.g. 512MiB or 1GiB; the oldest events go first"},
		{&o.maxAge, "nats-max-age", "RELAY_NATS_MAX_AGE", "--agent jetstream: how long the stream keeps an event, e.g. 168h (7 days)"},
		{&o.dedupe, "nats-dedupe-window", "RELAY_NATS_DEDUPE_WINDOW", "--agent jetstream: how long a replayed event id is recognised and stored only once"},
	} {
		if err := fs.valueVar(v.value, v.name, v.env, v.use); err != nil {
			return err
		}
	}
	fs.stringVar(&o.sync, "nats-sync", "RELAY_NATS_SYNC", "",
		"--agent jetstream: \"always\" fsyncs every write of the embedded server's store, so the stream survives power loss (default: the OS flushes on its own schedule)")
	return nil
}

// check validates the flags that do not depend on the outside world.
func (o *jetstreamOptions) check() error {
	switch {
	case o.sync != "" && o.sync != natsSyncAlways:
		return fmt.Errorf("--nats-sync %q: the only value is %q", o.sync, natsSyncAlways)
	case o.replicas < 1 || o.replicas > jetstreamMaxReplicas:
		return fmt.Errorf("--nats-replicas %d: want 1 to %d", o.replicas, jetstreamMaxReplicas)
	case o.maxBytes <= 0:
		return errors.New("--nats-max-bytes must be positive")
	case o.maxAge <= 0:
		return errors.New("--nats-max-age must be positive")
	case o.dedupe <= 0:
		return errors.New("--nats-dedupe-window must be positive")
	case time.Duration(o.dedupe) > time.Duration(o.maxAge):
		return errors.New("--nats-dedupe-window cannot be longer than --nats-max-age")
	case o.creds != "" && o.urls == "":
		return errors.New("--nats-creds is for --nats-url (the embedded server takes a token: --nats-token-file)")
	case o.creds != "" && o.tokenFile != "":
		return errors.New("give --nats-creds or --nats-token-file, not both")
	}
	return nil
}

// jetstreamMaxReplicas is JetStream's own cap on a stream's replicas.
const jetstreamMaxReplicas = 5

// usedWithoutAgent names the --nats-* flags given (on the command line or
// in the environment) while --agent is not jetstream, so the operator
// learns they have no effect.
func (o *jetstreamOptions) usedWithoutAgent() []string {
	var set []string
	if o.urls != "" {
		set = append(set, "--nats-url")
	}
	if o.creds != "" {
		set = append(set, "--nats-creds")
	}
	if o.tokenFile != "" {
		set = append(set, "--nats-token-file")
	}
	if o.sync != "" {
		set = append(set, "--nats-sync")
	}
	return set
}

// jetstreamRuntime is the running JetStream agent: the embedded server (or
// none, with --nats-url), the host's NATS connection, the publisher and
// its readiness probe.
type jetstreamRuntime struct {
	gatewayID string
	log       hclog.Logger
	emb       *jetstream.Embedded // nil with --nats-url
	urls      []string            // --nats-url, or the embedded server's URL
	opts      jetstreamOptions
	nc        *nats.Conn
	pub       *jetstream.Publisher
	agent     *jetstream.Agent
	obs       *metrics.JetStream

	stopProbe context.CancelFunc
	probeDone chan struct{}
}

// startJetStream starts the embedded server (unless --nats-url names a
// cluster), connects, makes sure the stream exists and returns the agent.
// Metrics go to m. On error nothing is left running.
func startJetStream(ctx context.Context, o jetstreamOptions, gatewayID string, m *metrics.Metrics, log hclog.Logger) (_ *jetstreamRuntime, err error) {
	r := &jetstreamRuntime{gatewayID: gatewayID, log: log.Named("jetstream"), opts: o, obs: metrics.NewJetStream(m)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	cc := jetstream.ConnectConfig{Name: "relay-host " + gatewayID, Logger: r.log}
	if o.urls == "" {
		r.emb, err = jetstream.StartEmbedded(jetstream.EmbeddedConfig{DataDir: o.dataDir, Listen: o.listen,
			TokenFile: o.tokenFile, SyncAlways: o.sync == natsSyncAlways, Logger: log.Named("nats")})
		if err != nil {
			return nil, err
		}
		r.urls = []string{r.emb.ClientURL()}
		cc.URLs, cc.InProcess, cc.Token = r.urls, r.emb.InProcess(), r.emb.Token()
	} else {
		if r.urls, err = jetstream.ParseURLList(o.urls); err != nil {
			return nil, err
		}
		if o.sync != "" {
			r.log.Warn("--nats-sync applies to the embedded server only; a cluster syncs as its own configuration says (jetstream { sync_interval: always })")
		}
		cc.URLs, cc.CredsFile, cc.TokenFile = r.urls, o.creds, o.tokenFile
	}
	if r.nc, err = jetstream.Connect(cc); err != nil {
		return nil, err
	}
	if r.pub, err = jetstream.NewPublisher(r.nc, jetstream.PublisherConfig{GatewayID: gatewayID, Observer: r.obs}); err != nil {
		return nil, err
	}
	if err := r.ensureStream(ctx); err != nil {
		return nil, err
	}
	r.agent = jetstream.NewAgent(r.pub, r.log)
	pctx, cancel := context.WithCancel(context.Background())
	r.stopProbe, r.probeDone = cancel, make(chan struct{})
	go func() {
		defer close(r.probeDone)
		r.pub.RunProbe(pctx, jetstream.ProbeInterval)
	}()
	if r.emb != nil {
		r.log.Info("embedded nats server up", "url", r.emb.ClientURL(), "data_dir", r.emb.DataDir(), "token_file", r.emb.TokenFile())
	} else {
		r.log.Info("connected to nats", "server", jetstream.RedactURL(r.nc.ConnectedUrl()))
	}
	r.log.Info("delivering events through jetstream", "stream", jetstream.StreamName,
		"subjects", jetstream.GatewayEventsFilter(gatewayID), "actions", jetstream.ActionsSubject(gatewayID),
		"reply", jetstream.ReplySubject(gatewayID))
	return r, nil
}

// ensureStream creates or checks RELAY_EVENTS, retrying while the cluster
// cannot answer yet (no JetStream meta leader), for at most
// streamSetupTimeout. A stream whose subjects do not cover this gateway is
// refused at once.
func (r *jetstreamRuntime) ensureStream(ctx context.Context) error {
	cfg := jetstream.StreamConfig{GatewayID: r.gatewayID, MaxBytes: int64(r.opts.maxBytes), MaxAge: time.Duration(r.opts.maxAge),
		Replicas: int(r.opts.replicas), DuplicateWindow: time.Duration(r.opts.dedupe)}
	deadline := time.Now().Add(streamSetupTimeout)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, streamSetupAttempt)
		warnings, err := jetstream.EnsureStream(actx, r.pub.JetStream(), cfg)
		cancel()
		var subjectsErr *jetstream.SubjectsError
		switch {
		case err == nil:
			for _, w := range warnings {
				r.log.Warn(w)
			}
			return nil
		case errors.As(err, &subjectsErr), ctx.Err() != nil:
			return err
		case time.Now().After(deadline):
			return &streamSetupError{Attempts: attempt, Took: streamSetupTimeout, Err: err}
		}
		r.log.Warn("jetstream stream not ready yet; retrying", "stream", jetstream.StreamName, "attempt", attempt, "error", err)
		t := time.NewTimer(streamSetupRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// streamSetupError is a stream that could not be created or checked
// within streamSetupTimeout.
type streamSetupError struct {
	Attempts int
	Took     time.Duration
	Err      error
}

func (e *streamSetupError) Error() string {
	return fmt.Sprintf("set up stream %s: no answer in %s (%d attempts): %v", jetstream.StreamName, e.Took, e.Attempts, e.Err)
}
func (e *streamSetupError) Unwrap() error { return e.Err }

// serveActions answers the workers' requests on the actions and reply
// subjects through api, the agent API core, until stop is called. A reply
// to an event api does not remember is answered once remember was given
// the event, read back from the stream, when the worker names its stream
// sequence.
func (r *jetstreamRuntime) serveActions(api jetstream.Caller, remember func(data []byte)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	stopServe, err := jetstream.ServeActions(ctx, r.nc, r.gatewayID, api,
		jetstream.WithActionsObserver(r.obs), jetstream.WithActionsLogger(r.log),
		jetstream.WithRecall(r.pub.JetStream(), remember))
	if err != nil {
		cancel()
		return nil, err
	}
	return func() {
		// Let the requests in progress finish, then cancel what is left.
		done := make(chan struct{})
		go func() { stopServe(); close(done) }()
		t := time.NewTimer(actionsStopBudget)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			r.log.Warn("workers' requests still in progress at shutdown are cancelled")
			cancel()
			<-done
		}
		cancel()
	}, nil
}

// rememberer returns what has the agent API remember an event read back
// from the stream (its JSON form), under the bot id of its platform's
// identity.
func rememberer(api *agentapi.Service, ids []relay.Identity) func(data []byte) {
	botIDs := map[string]string{}
	for _, id := range ids {
		if _, ok := botIDs[id.Platform]; !ok {
			botIDs[id.Platform] = id.BotID
		}
	}
	return func(data []byte) {
		var ev agent.Event
		if json.Unmarshal(data, &ev) != nil || ev.EventID == "" {
			return
		}
		api.Remember(ev.MessageEvent, ev.EventID, botIDs[ev.Source.Platform])
	}
}

// relearn has the agent API remember the events of this gateway still in
// the stream (among its last agentapi.DefaultEventMemory messages), so
// that workers holding events published before a restart can reply by
// event_id even without jetstream.SequenceHeader. It is bounded by
// relearnTimeout; a failure is only logged.
func (r *jetstreamRuntime) relearn(remember func(data []byte)) {
	ctx, cancel := context.WithTimeout(context.Background(), relearnTimeout)
	defer cancel()
	start := time.Now()
	n, err := jetstream.RecentEvents(ctx, r.pub.JetStream(), r.gatewayID, agentapi.DefaultEventMemory,
		func(_ string, data []byte) { remember(data) })
	if err != nil {
		r.log.Warn("could not re-learn the events in the stream; workers' replies to events published before this start are answered 404 unless they name the event's stream sequence",
			"read", n, "error", err)
		return
	}
	if n > 0 {
		r.log.Info("re-learned the events in the stream, for workers' replies", "events", n, "elapsed", time.Since(start).Round(time.Millisecond))
	}
}

// close stops the probe, drains the connection and stops the embedded
// server, within natsStopBudget.
func (r *jetstreamRuntime) close() {
	if r == nil {
		return
	}
	if r.stopProbe != nil {
		r.stopProbe()
		<-r.probeDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsStopBudget)
	defer cancel()
	if r.nc != nil {
		r.nc.Close()
	}
	if r.emb != nil {
		if err := r.emb.Shutdown(ctx); err != nil {
			r.log.Warn("embedded nats server did not stop in time", "error", err)
		}
	}
}

// connect opens another connection to the same servers, with the same
// credentials (in process with the embedded server).
func (r *jetstreamRuntime) connect(name string) (*nats.Conn, error) {
	cc := jetstream.ConnectConfig{URLs: r.urls, Name: name, Logger: r.log}
	if r.emb != nil {
		cc.InProcess, cc.Token = r.emb.InProcess(), r.emb.Token()
	} else {
		cc.CredsFile, cc.TokenFile = r.opts.creds, r.opts.tokenFile
	}
	return jetstream.Connect(cc)
}

// externalWorker reports whether a worker is connected and waiting for
// events, looking for at most devWorkerProbe.
func (r *jetstreamRuntime) externalWorker(ctx context.Context) bool {
	deadline := time.Now().Add(devWorkerProbe)
	for {
		pctx, cancel := context.WithTimeout(ctx, devWorkerProbeEvery)
		lag, ok, err := r.pub.Probe(pctx)
		cancel()
		if err == nil && ok && lag.Waiting > 0 {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		t := time.NewTimer(devWorkerProbeEvery)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// workerURL is the server list a worker dials, without credentials.
func (r *jetstreamRuntime) workerURL() string {
	out := make([]string, len(r.urls))
	for i, u := range r.urls {
		out[i] = jetstream.RedactURL(u)
	}
	return strings.Join(out, ",")
}

// attachJetStream has the JetStream agent's workers answered through the
// agent API core: their requests on the actions and reply subjects run the
// same Call as POST /v1/actions and POST /v1/reply, and the stream's recent
// events are re-learned so that replies to them find their chats. It
// returns what stops serving the subjects (before the core is stopped).
// Without the JetStream agent it does nothing.
func attachJetStream(cfg gatewayConfig, api *agentapi.Service) (stop func(), err error) {
	if cfg.jetstream == nil {
		return func() {}, nil
	}
	remember := rememberer(api, cfg.identities)
	cfg.jetstream.relearn(remember)
	stopActions, err := cfg.jetstream.serveActions(api, remember)
	if err != nil {
		return nil, err
	}
	return stopActions, nil
}

// agentReadiness returns the agent's readiness check for /readyz, nil for
// an agent that is always ready.
func agentReadiness(a agent.Agent) func() (bool, string) {
	if r, ok := a.(interface{ Ready() (bool, string) }); ok {
		return r.Ready
	}
	return nil
}

// valueVar defines a flag of any type whose default comes from an
// environment variable when that is set.
func (fs *flagSet) valueVar(v flag.Value, name, envName, usage string) error {
	fs.envNames[name] = envName
	if s := fs.env.getenv(envName); s != "" {
		if err := v.Set(s); err != nil {
			return fmt.Errorf("$%s=%q: %w", envName, s, err)
		}
	}
	fs.Var(v, name, usage)
	return nil
}

// intValue is an int flag.
type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a whole number")
	}
	*v = intValue(n)
	return nil
}

// sizeValue is a byte-count flag: 1073741824, 512MiB, 1GiB.
type sizeValue int64

func (v *sizeValue) String() string { return jetstream.FormatSize(int64(*v)) }
func (v *sizeValue) Set(s string) error {
	n, err := jetstream.ParseSize(s)
	if err != nil {
		return err
	}
	*v = sizeValue(n)
	return nil
}

// durationValue is a duration flag (Go syntax: 90s, 2m, 168h) shown
// without zero minutes and seconds.
type durationValue time.Duration

func (v *durationValue) String() string {
	s := time.Duration(*v).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a duration such as 90s, 2m or 168h")
	}
	*v = durationValue(d)
	return nil
}

// embeddedNATSMemory is what the embedded NATS server adds to the host's
// soft memory limit (hostMemoryLimit): its per-connection buffers and the
// file store's caches of the last blocks written, a few tens of MiB under
// load (relay-host bench --agent jetstream reports the added RSS).
const embeddedNATSMemory = 64 << 20

// setupAgent builds the agent named by --agent. For jetstream it starts the
// JetStream agent (the embedded server or a connection to --nats-url) with
// its metrics on m, and returns its runtime too, to close at exit (nil-safe).
func setupAgent(ctx context.Context, env *environment, name, url string, o *jetstreamOptions, gatewayID string,
	m *metrics.Metrics, log hclog.Logger) (agent.Agent, *jetstreamRuntime, error) {
	if name != jetstream.Name {
		if set := o.usedWithoutAgent(); len(set) > 0 {
			log.Warn("NATS flags have no effect without --agent jetstream", "flags", strings.Join(set, ", "))
		}
		a, err := newAgent(name, url, env)
		return a, nil, err
	}
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	if o.urls == "" && env.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(hostMemoryLimit + embeddedNATSMemory)
	}
	r, err := startJetStream(ctx, *o, gatewayID, m, log)
	if err != nil {
		return nil, nil, err
	}
	return r.agent, r, nil
}

// jetstreamAdvice is what to do about an error of the JetStream agent's
// start, "" when there is nothing to add.
func jetstreamAdvice(err error) string {
	var (
		connectErr *jetstream.ConnectError
		listenErr  *jetstream.ListenError
		startErr   *jetstream.StartError
		tokenErr   *jetstream.TokenFileError
		inUseErr   *jetstream.DataDirInUseError
		subjectErr *jetstream.SubjectsError
		urlErr     *jetstream.URLError
		setupErr   *streamSetupError
	)
	switch {
	case errors.As(err, &connectErr):
		return ": check that the servers of --nats-url are up and reachable from here, and the credentials (--nats-creds or --nats-token-file)"
	case errors.As(err, &listenErr) && errors.Is(err, jetstream.ErrNotLoopback):
		return ": the embedded server listens on loopback only; for workers on other machines run a NATS cluster and pass --nats-url"
	case errors.As(err, &listenErr):
		return ": --nats-listen takes host:port, e.g. 127.0.0.1:4222"
	case errors.As(err, &startErr) && startErr.AddrInUse():
		return ": another process (another relay-host?) listens there; pass --nats-listen 127.0.0.1:0 to pick a free port"
	case errors.As(err, &tokenErr):
		return ": --nats-token-file must name a readable file holding the token (without it, the embedded server generates <data-dir>/" + jetstream.TokenFileName + ")"
	case errors.As(err, &inUseErr):
		return ": give each relay-host its own --data-dir"
	case errors.As(err, &subjectErr):
		return "; add " + jetstream.StreamSubjects + " to its subjects (nats stream edit " + jetstream.StreamName + ") or delete it so relay-host creates it"
	case errors.As(err, &urlErr):
		return ": --nats-url takes nats://host:port[,nats://host:port…]"
	case errors.As(err, &setupErr):
		return ": is JetStream enabled on every server (a jetstream {} block) and does the cluster have a quorum? --nats-replicas cannot exceed its JetStream servers"
	}
	return ""
}

// Dev mode's in-process echo worker.
const (
	// devWorkerProbe bounds the look for an external worker when dev mode
	// runs on a kept --data-dir (with a fresh temporary one none can
	// exist): workers of an earlier run reconnect within a second or two
	// (their reconnect wait) and then hold a pull request open.
	devWorkerProbe = 3 * time.Second
	// devWorkerProbeEvery is the pause between looks.
	devWorkerProbeEvery = 250 * time.Millisecond
	// devWorkerStopBudget bounds the in-process worker's stop: it finishes
	// the replies it asked for, then its connection is closed.
	devWorkerStopBudget = 3 * time.Second
)

// devJetStream is dev mode's JetStream agent: the runtime, the temporary
// data dir it may live in, and the in-process echo worker.
type devJetStream struct {
	rt       *jetstreamRuntime
	tempDir  string // removed at exit; "" with --data-dir
	external bool   // an external worker was connected at start
	workerNC *nats.Conn
	stop     context.CancelFunc
	done     chan struct{}
}

// startDevJetStream starts dev mode's JetStream agent when --agent is
// jetstream (nil otherwise): the embedded server in a temporary data dir
// unless --data-dir is given, and the in-process echo worker unless an
// external worker is already connected. The worker keeps running when
// workers connect later: they share the consumer like any workers.
func startDevJetStream(ctx context.Context, env *environment, o *jetstreamOptions, gatewayID string, m *metrics.Metrics,
	log hclog.Logger) (_ *devJetStream, err error) {
	d := &devJetStream{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if o.urls == "" && o.dataDir == "" {
		if d.tempDir, err = os.MkdirTemp("", "relay-host-dev-nats-"); err != nil {
			return nil, fmt.Errorf("create a temporary data dir for the embedded nats server: %w", err)
		}
		o.dataDir = d.tempDir
	}
	_, d.rt, err = setupAgent(ctx, env, jetstream.Name, "", o, gatewayID, m, log)
	if err != nil {
		return nil, err
	}
	if d.tempDir == "" {
		d.external = d.rt.externalWorker(ctx)
	}
	if d.external {
		return d, nil
	}
	if d.workerNC, err = d.rt.connect("relay-host dev echo worker"); err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if log.IsDebug() {
		level = slog.LevelDebug
	}
	wlog := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level})).With("worker", "dev echo worker")
	w := echoworker.New(d.workerNC, echoworker.Config{GatewayID: gatewayID, Logger: wlog})
	wctx, cancel := context.WithCancel(context.Background())
	d.stop, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		if err := w.Run(wctx); err != nil {
			log.Error("the in-process echo worker stopped", "error", err)
		}
	}()
	return d, nil
}

// close stops the in-process worker (within devWorkerStopBudget), the
// runtime, and removes a temporary data dir. It is nil-safe.
func (d *devJetStream) close() {
	if d == nil {
		return
	}
	if d.stop != nil {
		d.stop()
		t := time.NewTimer(devWorkerStopBudget)
		select {
		case <-d.done:
		case <-t.C:
			d.workerNC.Close() // its replies in flight fail; the events come back
			<-d.done
		}
		t.Stop()
	}
	if d.workerNC != nil {
		d.workerNC.Close()
	}
	d.rt.close()
	if d.tempDir != "" {
		_ = os.RemoveAll(d.tempDir)
	}
}

// runtime returns the JetStream agent's runtime, nil when d is nil.
func (d *devJetStream) runtime() *jetstreamRuntime {
	if d == nil {
		return nil
	}
	return d.rt
}

// banner is what dev mode prints about the JetStream agent: where its
// server is, the subjects, the token file, the worker, and how to watch.
func (d *devJetStream) banner() string {
	r := d.rt
	gw := r.gatewayID
	var b strings.Builder
	server := "embedded nats-server " + r.workerURL()
	if r.emb == nil {
		server = "nats " + r.workerURL()
	}
	fmt.Fprintf(&b, "JetStream             %s\n", server)
	switch {
	case d.tempDir != "":
		fmt.Fprintf(&b, "  data dir            %s (temporary: removed at exit; pass --data-dir to keep the stream)\n", d.tempDir)
	case r.emb != nil:
		fmt.Fprintf(&b, "  data dir            %s\n", r.emb.DataDir())
	}
	fmt.Fprintf(&b, "  events              %s.<platform> on stream %s\n", strings.TrimSuffix(jetstream.GatewayEventsFilter(gw), ".*"), jetstream.StreamName)
	fmt.Fprintf(&b, "  replies, actions    %s, %s (NATS request/reply)\n", jetstream.ReplySubject(gw), jetstream.ActionsSubject(gw))
	tokenFile := r.opts.tokenFile
	if r.emb != nil {
		tokenFile = r.emb.TokenFile()
	}
	auth := ""
	if tokenFile != "" {
		fmt.Fprintf(&b, "  token file          %s\n", tokenFile)
		auth = fmt.Sprintf(" --user \"$(cat %s)\"", tokenFile)
	} else if r.opts.creds != "" {
		auth = " --creds " + r.opts.creds
	}
	if d.external {
		b.WriteString("  worker              an external worker is connected: no in-process worker\n")
	} else {
		fmt.Fprintf(&b, "  worker              in-process echo worker (consumer %q); workers you start share the events with it\n", jetstream.ConsumerName)
	}
	workerAuth := ""
	if tokenFile != "" {
		workerAuth = " --nats-token-file " + tokenFile
	} else if r.opts.creds != "" {
		workerAuth = " --nats-creds " + r.opts.creds
	}
	fmt.Fprintf(&b, "  another worker      go run ./examples/agents/jetstream-echo --gateway-id %s --nats-url %s%s\n", gw, r.workerURL(), workerAuth)
	fmt.Fprintf(&b, "  watch the stream    nats --server %s%s stream view %s\n", r.workerURL(), auth, jetstream.StreamName)
	fmt.Fprintf(&b, "  watch live events   nats --server %s%s sub '%s'", r.workerURL(), auth, strings.TrimSuffix(jetstream.GatewayEventsFilter(gw), "*")+">")
	return b.String()
}
