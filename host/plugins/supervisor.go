package plugins

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
)

// Restart policy of a crashed plugin. The first restart is immediate, so a
// plugin killed once is serving again well within DESIGN §8's one second;
// repeated crashes back off exponentially up to restartMaxDelay so a plugin
// that dies at start does not spin a core.
const (
	restartBaseDelay = 100 * time.Millisecond
	restartMaxDelay  = 30 * time.Second
	// unhealthyAfter consecutive crashes (without a stable period in
	// between) mark a plugin unhealthy; it keeps being restarted.
	unhealthyAfter = 5
	// stableAfter is how long a plugin must stay up for its crash count to
	// reset.
	stableAfter = 60 * time.Second
)

// State is a supervised plugin's state.
type State string

// Plugin states.
const (
	StateUp        State = "up"
	StateDown      State = "down"      // crashed, restart pending
	StateUnhealthy State = "unhealthy" // crashed repeatedly, restart pending
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
	// Observer receives lifecycle events; nil means none.
	Observer Observer
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
	proc     *pluginapi.Process
	info     pluginapi.Info
	state    State
	up       chan struct{} // closed while state is up; replaced when it goes down
	crashes  int           // consecutive, reset after stableAfter
	restarts int
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

func (s *Supervisor) launch(ctx context.Context) (*pluginapi.Process, error) {
	var sum []byte
	if s.cfg.Pinned {
		sum, _ = hex.DecodeString(s.cand.SHA256)
	}
	return pluginapi.Launch(ctx, pluginapi.LaunchConfig{
		Path:     s.cand.Path,
		Env:      pluginapi.PluginEnv(s.cfg.LogLevel),
		Logger:   s.logger,
		Checksum: sum,
		// Plain prints on stdout are relayed at debug: they are not
		// structured, and may hold anything the plugin had in hand.
		Stdout: s.logger.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	})
}

// setUp installs a freshly launched process; it reports false (and installs
// nothing) when the supervisor was closed meanwhile.
func (s *Supervisor) setUp(proc *pluginapi.Process) bool {
	s.mu.Lock()
	if s.state == StateStopped {
		s.mu.Unlock()
		return false
	}
	restart := s.proc != nil
	if restart {
		s.restarts++
	}
	s.proc, s.info, s.state = proc, proc.Info, StateUp
	close(s.up)
	s.mu.Unlock()
	s.cfg.Observer.PluginState(s.cand.Name, StateUp)
	s.logger.Info("plugin up", "pid", proc.PID, "version", proc.Info.Version, "platforms", proc.Info.Platforms, "restart", restart)
	return true
}

// supervise waits for the process to die and restarts it, until Close.
func (s *Supervisor) supervise(proc *pluginapi.Process) {
	defer close(s.stopped)
	for {
		upSince := time.Now()
		select {
		case <-s.stop:
			proc.Kill()
			return
		case <-proc.Remote.Done():
		}
		proc.Kill() // reap it, whatever state it is in
		state := s.markDown(time.Since(upSince))
		s.logger.Error("plugin exited; in-flight forwards fail unacknowledged and will be redelivered",
			"pid", proc.PID, "reason", proc.Remote.Err(), "state", state)
		for {
			if !s.wait(restartDelay(s.crashCount() - 1)) {
				return
			}
			next, err := s.launch(context.Background())
			if err != nil {
				s.logger.Error("plugin restart failed", "error", err)
				s.mu.Lock()
				s.crashes++
				s.mu.Unlock()
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

// markDown records a crash after an uptime and returns the new state.
func (s *Supervisor) markDown(uptime time.Duration) State {
	s.mu.Lock()
	if uptime >= stableAfter {
		s.crashes = 0
	}
	s.crashes++
	s.state = StateDown
	if s.crashes >= unhealthyAfter {
		s.state = StateUnhealthy
	}
	s.up = make(chan struct{})
	state := s.state
	s.mu.Unlock()
	s.cfg.Observer.PluginState(s.cand.Name, state)
	return state
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

// restartDelay is the wait before restart number n (0-based) of a run of
// consecutive crashes: 0, then restartBaseDelay doubling to restartMaxDelay.
func restartDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := restartBaseDelay
	for i := 1; i < n && d < restartMaxDelay; i++ {
		d *= 2
	}
	return min(d, restartMaxDelay)
}

// Handle sends a forward to the plugin, waiting (bounded by ctx) for it to
// be up if it is restarting. The error is non-nil when the plugin did not
// answer; the forward must then not be acknowledged.
func (s *Supervisor) Handle(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	for {
		s.mu.Lock()
		proc, up, state := s.proc, s.up, s.state
		s.mu.Unlock()
		if state == StateStopped {
			return pluginapi.Result{}, fmt.Errorf("plugin %s is stopped", s.cand.Name)
		}
		select {
		case <-up:
		case <-ctx.Done():
			return pluginapi.Result{}, fmt.Errorf("plugin %s is %s: %w", s.cand.Name, state, ctx.Err())
		}
		if state != StateUp { // it came up while we waited: reload the process
			continue
		}
		return proc.Remote.HandleForward(ctx, f)
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
	// PID is the current process id (0 when down).
	PID int
	// Restarts counts restarts since the host started.
	Restarts int
}

// Status returns a snapshot of the plugin's state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Candidate: s.cand, Info: s.info, State: s.state, Restarts: s.restarts}
	if s.state == StateUp && s.proc != nil {
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
	proc, err := pluginapi.Launch(ctx, pluginapi.LaunchConfig{
		Path:   cand.Path,
		Env:    pluginapi.PluginEnv(logger.GetLevel().String()),
		Logger: logger.Named(cand.Name),
	})
	if err != nil {
		return pluginapi.Info{}, err
	}
	defer proc.Kill()
	return proc.Info, nil
}
