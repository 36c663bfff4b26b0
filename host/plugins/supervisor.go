package plugins

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// Restart policy of a crashed plugin. The first restart is immediate, so a
// plugin killed once is serving again well within the one second
// docs/performance.md sets; repeated crashes back off exponentially up to
// restartMaxDelay so a plugin that dies at start does not spin a core.
const (
	restartBaseDelay = 100 * time.Millisecond
	restartMaxDelay  = 30 * time.Second
	// unhealthyAfter consecutive crashes (without a stable period in
	// between; a failed restart counts as a crash) mark a plugin unhealthy;
	// it keeps being restarted.
	unhealthyAfter = 5
	// stableAfter is how long a plugin must stay up for its crash count to
	// reset, and for an unhealthy plugin to be reported up again.
	stableAfter = 60 * time.Second
)

// restartPolicy is the restart policy a supervisor applies: the constants
// above, which tests shorten.
type restartPolicy struct {
	baseDelay, maxDelay time.Duration
	unhealthyAfter      int
	stableAfter         time.Duration
	// wedgeAfter consecutive forward timeouts restart a plugin (wedge.go).
	wedgeAfter int
	// now is the clock a plugin's uptime is measured with; afterFunc runs
	// f once d has passed on that clock and returns a function that
	// cancels it (time.AfterFunc's Stop).
	now       func() time.Time
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

// defaultRestartPolicy is the policy of the constants above.
func defaultRestartPolicy() restartPolicy {
	return restartPolicy{baseDelay: restartBaseDelay, maxDelay: restartMaxDelay,
		unhealthyAfter: unhealthyAfter, stableAfter: stableAfter, wedgeAfter: wedgeAfter,
		now: time.Now, afterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }}
}

// delay is the wait before restart number n (0-based) of a run of
// consecutive crashes: 0, then baseDelay doubling to maxDelay.
func (p restartPolicy) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := p.baseDelay
	for i := 1; i < n && d < p.maxDelay; i++ {
		d *= 2
	}
	return min(d, p.maxDelay)
}

// State is a supervised plugin's state.
type State string

// Plugin states.
const (
	StateUp        State = "up"
	StateDown      State = "down"      // crashed, restart pending
	StateUnhealthy State = "unhealthy" // crashed repeatedly or wedged; restarting, or serving but not yet up for stableAfter
	StateStopped   State = "stopped"
)

// Observer receives plugin lifecycle events, for metrics. Implementations
// must be fast and safe for concurrent use.
type Observer interface {
	// PluginState reports a plugin's new state.
	PluginState(name string, s State)
	// PluginRestarted counts one restart of a plugin.
	PluginRestarted(name string)
}

type nopObserver struct{}

func (nopObserver) PluginState(string, State) {}
func (nopObserver) PluginRestarted(string)    {}

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	// Logger is the host logger; the plugin's own lines are relayed under
	// it, named after the plugin.
	Logger hclog.Logger
	// LogLevel is passed to the plugin process.
	LogLevel string
	// Pinned says the candidate's hash is pinned; the launch then verifies it.
	Pinned bool
	// User, when set, is the account the plugin runs as.
	User *launcher.User
	// Observer receives lifecycle events; nil means none.
	Observer Observer
	// Configure gives the plugin's configuration at each launch (see
	// launcher.LaunchConfig.Configure); nil sends none.
	Configure func(pluginapi.Info) (*pluginapi.Config, error)
	// restart is the restart policy; zero means defaultRestartPolicy
	// (tests shorten it).
	restart restartPolicy
}

// Supervisor owns one plugin process from launch to kill: it restarts the
// plugin when it dies and hands out the live connection. Nothing else
// touches the process.
type Supervisor struct {
	cand   Candidate
	cfg    SupervisorConfig
	logger hclog.Logger

	stop    chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	proc     *launcher.Process
	info     pluginapi.Info
	state    State
	serving  bool          // proc is running and takes forwards (state up or unhealthy)
	up       chan struct{} // closed while serving; replaced when it goes down
	upSince  time.Time     // when the running process came up
	crashes  int           // consecutive, reset after stableAfter
	restarts int
	lastErr  error // why the last restart failed; nil once up
	// timeouts counts consecutive forward timeouts of proc, during which
	// it answered nothing; wedged says they reached wedgeAfter (wedge.go). stopStable cancels the pending
	// switch from unhealthy to up (stable.go).
	timeouts   int
	lastAnswer time.Time // when proc last answered a forward
	wedged     bool
	stopStable func() bool
}

// StartSupervisor launches the plugin and starts supervising it. A failure
// of the first launch is returned: a plugin that cannot start at boot is a
// configuration error.
func StartSupervisor(ctx context.Context, cand Candidate, cfg SupervisorConfig) (*Supervisor, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.restart.now == nil {
		cfg.restart = defaultRestartPolicy()
	}
	if cfg.restart.afterFunc == nil {
		cfg.restart.afterFunc = defaultRestartPolicy().afterFunc
	}
	s := &Supervisor{
		cand: cand, cfg: cfg, logger: cfg.Logger.Named(cand.Name),
		stop: make(chan struct{}), stopped: make(chan struct{}), up: make(chan struct{}),
	}
	proc, err := s.launch(ctx)
	if err != nil {
		return nil, err
	}
	s.setUp(proc)
	go s.supervise(proc)
	return s, nil
}

// launch starts the plugin process. A pinned plugin whose executable no
// longer has its pinned hash (it was replaced since the host started) is
// refused with a PinError.
func (s *Supervisor) launch(ctx context.Context) (*launcher.Process, error) {
	var sum []byte
	if s.cfg.Pinned {
		sum, _ = hex.DecodeString(s.cand.SHA256)
	}
	proc, err := launcher.Launch(ctx, launcher.LaunchConfig{
		Path:             s.cand.Path,
		Env:              launcher.PluginEnv(s.cfg.LogLevel),
		Logger:           s.logger,
		Checksum:         sum,
		Configure:        s.cfg.Configure,
		CheckPermissions: true,
		User:             s.cfg.User,
		// Plain prints on stdout are relayed at debug: they are not
		// structured, and may hold anything the plugin had in hand.
		Stdout: s.logger.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	})
	if ce := (*launcher.ChecksumError)(nil); errors.As(err, &ce) {
		return nil, &PinError{Path: s.cand.Path, Got: hex.EncodeToString(ce.Got), Want: s.cand.SHA256}
	}
	return proc, err
}

// setUp installs a freshly launched process; it reports false (and installs
// nothing) when the supervisor was closed meanwhile.
func (s *Supervisor) setUp(proc *launcher.Process) bool {
	s.mu.Lock()
	if s.state == StateStopped {
		s.mu.Unlock()
		return false
	}
	restart := s.proc != nil
	if restart {
		s.restarts++
	}
	s.proc, s.info, s.serving, s.lastErr, s.timeouts = proc, proc.Info, true, nil, 0
	s.upSince = s.cfg.restart.now()
	s.state = s.servingStateLocked(proc)
	state := s.state
	close(s.up)
	s.mu.Unlock()
	s.cfg.Observer.PluginState(s.cand.Name, state)
	s.logger.Info("plugin up", "pid", proc.PID, "version", proc.Info.Version, "platforms", proc.Info.Platforms, "restart", restart, "state", state)
	return true
}

// supervise waits for the process to die and restarts it, until Close.
func (s *Supervisor) supervise(proc *launcher.Process) {
	defer close(s.stopped)
	policy := s.cfg.restart
	for {
		select {
		case <-s.stop:
			if err := proc.Stop(); err != nil {
				s.logger.Warn("plugin did not shut down cleanly; killed", "error", err)
			}
			return
		case <-proc.Remote.Done():
		}
		proc.Kill() // reap it, whatever state it is in
		state := s.markDown()
		s.logger.Error("plugin exited; in-flight forwards fail unacknowledged and will be redelivered",
			"pid", proc.PID, "reason", proc.Remote.Err(), "state", state)
		for {
			if !s.wait(policy.delay(s.crashCount() - 1)) {
				return
			}
			next, err := s.launch(context.Background())
			if err != nil {
				state := s.restartFailed(err)
				s.logger.Error("plugin restart failed", "error", err, "state", state)
				continue
			}
			s.cfg.Observer.PluginRestarted(s.cand.Name)
			if !s.setUp(next) {
				next.Kill()
				return
			}
			proc = next
			break
		}
	}
}

func (s *Supervisor) crashCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crashes
}

// markDown records a crash and returns the new state. A plugin that was up
// for the stable period starts a new run of crashes.
func (s *Supervisor) markDown() State {
	s.mu.Lock()
	if s.cfg.restart.now().Sub(s.upSince) >= s.cfg.restart.stableAfter {
		s.crashes = 0
	}
	s.crashes++
	s.state = s.crashState()
	s.serving = false
	s.cancelStableLocked()
	s.up = make(chan struct{})
	state := s.state
	s.mu.Unlock()
	s.cfg.Observer.PluginState(s.cand.Name, state)
	return state
}

// restartFailed records a failed restart, which counts as a crash, and
// returns the state; the observer hears of it when the plugin turns
// unhealthy.
func (s *Supervisor) restartFailed(err error) State {
	s.mu.Lock()
	s.crashes++
	s.lastErr = err
	was := s.state
	if was != StateStopped {
		s.state = s.crashState()
	}
	state := s.state
	s.mu.Unlock()
	if state != was {
		s.cfg.Observer.PluginState(s.cand.Name, state)
	}
	return state
}

// crashState is the state of a plugin that is down after s.crashes
// consecutive crashes. s.mu must be held.
func (s *Supervisor) crashState() State {
	if s.unhealthyLocked() {
		return StateUnhealthy
	}
	return StateDown
}

// wait sleeps d unless the supervisor is closed first; it reports whether
// to go on.
func (s *Supervisor) wait(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-s.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// Handle sends a forward to the plugin, waiting (bounded by ctx) for it to
// be up if it is restarting. The error is non-nil when the plugin did not
// answer; the forward must then not be acknowledged.
func (s *Supervisor) Handle(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	for {
		s.mu.Lock()
		proc, up, state, serving := s.proc, s.up, s.state, s.serving
		s.mu.Unlock()
		if state == StateStopped {
			return pluginapi.Result{}, fmt.Errorf("plugin %s is stopped", s.cand.Name)
		}
		select {
		case <-up:
		case <-ctx.Done():
			return pluginapi.Result{}, fmt.Errorf("plugin %s is %s: %w", s.cand.Name, state, ctx.Err())
		}
		if !serving { // it came up while we waited: reload the process
			continue
		}
		sent := time.Now()
		res, err := proc.Remote.HandleForward(ctx, f)
		s.noteForward(proc, sent, err)
		return res, err
	}
}

// Info returns what the plugin said about itself at its last start.
func (s *Supervisor) Info() pluginapi.Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Candidate returns the plugin file this supervisor runs.
func (s *Supervisor) Candidate() Candidate { return s.cand }

// Status is a snapshot of a supervised plugin.
type Status struct {
	Candidate
	// Info is what the plugin said about itself.
	Info pluginapi.Info
	// State is the plugin's state.
	State State
	// PID is the current process id (0 when down). An unhealthy plugin may
	// have one: it serves, but has not been up for the stable period yet.
	PID int
	// Restarts counts restarts since the host started.
	Restarts int
	// Err says why the last restart failed (a *PinError when the pinned
	// executable was replaced); nil while the plugin is up.
	Err error
}

// Status returns a snapshot of the plugin's state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Candidate: s.cand, Info: s.info, State: s.state, Restarts: s.restarts, Err: s.lastErr}
	if s.serving && s.proc != nil {
		st.PID = s.proc.PID
	}
	return st
}

// Close kills the plugin process and stops supervising it. It waits for the
// process to be gone.
func (s *Supervisor) Close() {
	s.mu.Lock()
	if s.state == StateStopped {
		s.mu.Unlock()
		return
	}
	s.state = StateStopped
	s.cancelStableLocked()
	select {
	case <-s.up:
	default:
		close(s.up) // wake waiters; they see StateStopped
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.stopped
	s.cfg.Observer.PluginState(s.cand.Name, StateStopped)
}

// Probe starts a plugin just long enough to ask for its Info, then stops it.
func Probe(ctx context.Context, cand Candidate, logger hclog.Logger) (pluginapi.Info, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	proc, err := launcher.Launch(ctx, launcher.LaunchConfig{
		Path:   cand.Path,
		Env:    launcher.PluginEnv(logger.GetLevel().String()),
		Logger: logger.Named(cand.Name),
	})
	if err != nil {
		return pluginapi.Info{}, err
	}
	defer proc.Kill()
	return proc.Info, nil
}
