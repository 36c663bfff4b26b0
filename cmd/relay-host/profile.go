package main

import (
	"errors"
	"fmt"
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
	stopCPU, err := startCPUProfile(env)
	if err != nil {
		return nil, err
	}
	stopTrace, err := startTrace(env)
	if err != nil {
		stopCPU()
		return nil, err
	}
	return func() {
		stopTrace()
		stopCPU()
	}, nil
}

// startTrace starts the execution trace named by $RELAY_TRACE, if any.
func startTrace(env *environment) (stop func(), err error) {
	path := env.getenv(envTrace)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", envTrace, err)
	}
	if err := trace.Start(f); err != nil {
		return nil, errors.Join(fmt.Errorf("$%s: %w", envTrace, err), f.Close())
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}

// startCPUProfile starts the CPU profile named by $RELAY_CPUPROFILE, if any.
func startCPUProfile(env *environment) (stop func(), err error) {
	path := env.getenv(envCPUProfile)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", envCPUProfile, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("$%s: %w", envCPUProfile, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
