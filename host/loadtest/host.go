package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Host process limits.
const (
	// hostStopBudget bounds a SIGTERM shutdown of the host under test: its
	// own shutdown sequence is bounded at about 9 s (cmd/relay-host
	// gateway.go), so past this it is stuck and gets SIGKILL.
	hostStopBudget = 15 * time.Second
	// logTail is how many of the host's last log lines an error quotes.
	logTail = 20
)

// hostProcess is a child under test: `relay-host run`, or the raw peer.
type hostProcess struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // its exit status, set before done is closed

	mu        sync.Mutex
	tail      []string      // its last log lines
	pluginsUp time.Duration // "plugins up" elapsed, from its log
	upSeen    chan struct{} // closed when the "plugins up" line was read
	apiAddr   string        // the agent API's address, from its log
	apiSeen   chan struct{} // closed when the agent API's line was read
}

// hostArgs are the arguments of the host under test.
type hostArgs struct {
	exe, pluginsDir, connectorURL, gatewayID, secret, botID string
	// agentAPIToken, when set, has the host serve the agent API on a free
	// loopback port with this token.
	agentAPIToken string
	extraEnv      []string
	// agentArgs choose the agent; nil: --agent echo.
	agentArgs []string
}

// startHost starts `relay-host run` against the connector with the echo
// agent and JSON logs at info, which it parses for the plugin start time
// and the agent API's address. The child dies with the bench (Pdeathsig).
func startHost(a hostArgs) (*hostProcess, error) {
	agentArgs := a.agentArgs
	if agentArgs == nil {
		agentArgs = []string{"--agent", "echo"}
	}
	args := append([]string{"run", "--connector", a.connectorURL, "--gateway-id", a.gatewayID,
		"--identity", "discord:" + a.botID, "--log-format", "json", "--log-level", "info"}, agentArgs...)
	if a.pluginsDir != "" {
		args = append(args, "--plugins-dir", a.pluginsDir)
	}
	if a.agentAPIToken != "" {
		// The token travels in the environment, like the secret.
		args = append(args, "--agent-api", "127.0.0.1:0")
		a.extraEnv = append(a.extraEnv, "RELAY_AGENT_API_TOKEN="+a.agentAPIToken)
	}
	return startChild(a, args)
}

// startRawPeer starts this binary as the raw peer (see EnvRawPeer): a
// separate process, like the host, so that both measured peers reach the
// connector the same way.
func startRawPeer(a hostArgs) (*hostProcess, error) {
	a.extraEnv = append(a.extraEnv, EnvRawPeer+"="+a.connectorURL)
	return startChild(a, []string{"bench"})
}

func startChild(a hostArgs, args []string) (*hostProcess, error) {
	cmd := exec.Command(a.exe, args...)
	// The host's configuration comes from the flags above only: a RELAY_*
	// variable of the caller's shell (a secret file, another agent) must
	// not leak in. The secret travels in the environment, not argv.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "RELAY_SECRET="+a.secret)
	cmd.Env = append(cmd.Env, a.extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start relay-host run: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", a.exe, args[0], err)
	}
	h := &hostProcess{cmd: cmd, done: make(chan struct{}), upSeen: make(chan struct{}), apiSeen: make(chan struct{})}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		h.readLog(stderr)
	}()
	go func() {
		<-logDone // Wait closes the pipe: read it to the end first
		h.err = cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// logLine holds the fields of the host's JSON log lines the bench reads.
type logLine struct {
	Level   string `json:"@level"`
	Message string `json:"@message"`
	Elapsed int64  `json:"elapsed"` // nanoseconds (hclog writes a Duration as a number)
	Addr    string `json:"addr"`
}

func (h *hostProcess) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var l logLine
		_ = json.Unmarshal([]byte(line), &l)
		h.mu.Lock()
		h.tail = append(h.tail, line)
		if len(h.tail) > logTail {
			h.tail = h.tail[1:]
		}
		if l.Message == "plugins up" && h.pluginsUp == 0 {
			h.pluginsUp = time.Duration(l.Elapsed)
			close(h.upSeen)
		}
		if l.Message == agentAPILogLine && h.apiAddr == "" && l.Addr != "" {
			h.apiAddr = l.Addr
			close(h.apiSeen)
		}
		h.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// pid is the host's process id.
func (h *hostProcess) pid() int { return h.cmd.Process.Pid }

// logTail returns the host's last log lines, for an error message.
func (h *hostProcess) logTail() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.tail, "\n")
}

// pluginStart returns the plugin start time the host logged, waiting for
// the line (it precedes the handshake, so it is normally there already).
func (h *hostProcess) pluginStart(ctx context.Context) (time.Duration, error) {
	select {
	case <-h.upSeen:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.pluginsUp, nil
	case <-h.done:
		return 0, fmt.Errorf("relay-host run exited (%v) before its plugins were up:\n%s", h.err, h.logTail())
	case <-ctx.Done():
		return 0, fmt.Errorf("no \"plugins up\" line in the host's log: %w", ctx.Err())
	}
}

// agentAPILogLine is the message of the host's log line naming the agent
// API's address (cmd/relay-host, agentapi.go).
const agentAPILogLine = "serving the agent API"

// agentAPIAddr returns the agent API's address the host logged, waiting
// for the line.
func (h *hostProcess) agentAPIAddr(ctx context.Context) (string, error) {
	select {
	case <-h.apiSeen:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.apiAddr, nil
	case <-h.done:
		return "", fmt.Errorf("relay-host run exited (%v) before serving the agent API:\n%s", h.err, h.logTail())
	case <-ctx.Done():
		return "", fmt.Errorf("no %q line in the host's log: %w", agentAPILogLine, ctx.Err())
	}
}

// exited returns a channel closed when the host has exited.
func (h *hostProcess) exited() <-chan struct{} { return h.done }

// stop sends SIGTERM and waits for a clean exit, killing the host if it
// does not exit within hostStopBudget.
func (h *hostProcess) stop() error {
	select {
	case <-h.done:
		return fmt.Errorf("%s had already exited: %v", h.name(), h.err)
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(hostStopBudget)
	defer t.Stop()
	select {
	case <-h.done:
		if h.err != nil {
			return fmt.Errorf("%s exited after SIGTERM: %w", h.name(), h.err)
		}
		return nil
	case <-t.C:
		h.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", h.name(), hostStopBudget)
	}
}

// name says which child this is, for errors.
func (h *hostProcess) name() string { return "relay-host " + h.cmd.Args[1] }

// killIfRunning kills the child unless it has exited.
func (h *hostProcess) killIfRunning() {
	select {
	case <-h.done:
	default:
		h.kill()
	}
}

// kill ends the host at once and waits for it.
func (h *hostProcess) kill() {
	_ = h.cmd.Process.Kill()
	<-h.done
}
