package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// envCPUProfile names a file `relay-host run` writes a CPU profile of its
// whole run to (read it with go tool pprof). It is deliberately not a flag:
// it exists for `relay-host bench --cpuprofile` and for whoever profiles
// the host, not for operators.
const envCPUProfile = "RELAY_CPUPROFILE"

// startProfile starts the CPU profile named by $RELAY_CPUPROFILE, if any,
// and returns the function that stops it and closes the file.
func startProfile(env *environment) (stop func(), err error) {
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
