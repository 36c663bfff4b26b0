package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// envCPUProfile names a file `relay-host run` writes a CPU profile of its
// whole run to (read it with go tool pprof). It is deliberately not a flag:
// it exists for `relay-host bench --cpuprofile` and for whoever profiles
// the host, not for operators.
const envCPUProfile = "RELAY_CPUPROFILE"

// envTrace names a file `relay-host run` writes an execution trace of its
// whole run to (read it with go tool trace); like envCPUProfile it exists
// for `relay-host bench --trace`.
const envTrace = "RELAY_TRACE"

// startProfile starts the CPU profile named by $RELAY_CPUPROFILE and the
// execution trace named by $RELAY_TRACE, if any, and returns the function
// that stops them and closes their files.
func startProfile(env *environment) (stop func(), err error) {
	stopCPU, err := startToFile(env, envCPUProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return nil, err
	}
	stopTrace, err := startToFile(env, envTrace, trace.Start, trace.Stop)
	if err != nil {
		stopCPU()
		return nil, err
	}
	return func() {
		stopTrace()
		stopCPU()
	}, nil
}

// startToFile runs start on a file created at the path the environment
// variable name holds, if it holds one; the function it returns runs end
// and closes the file.
func startToFile(env *environment, name string, start func(io.Writer) error, end func()) (stop func(), err error) {
	path := env.getenv(name)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", name, err)
	}
	if err := start(f); err != nil {
		return nil, errors.Join(fmt.Errorf("$%s: %w", name, err), f.Close())
	}
	return func() {
		end()
		f.Close()
	}, nil
}
