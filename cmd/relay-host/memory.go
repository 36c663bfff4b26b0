package main

import (
	"runtime"
	"runtime/debug"
)

// Garbage-collector defaults of `relay-host run`, applied unless GOGC or
// GOMEMLIMIT is set in its environment.
//
// Every forward allocates a few KiB (the decoded body, the plugin messages,
// the events, the reply) and keeps nothing once settled, so the live heap is
// small and the Go default (GOGC=100) collects every few MiB: under load that
// was over a tenth of the host's CPU, and slowed the whole pipeline.
// Collecting at five times the live heap cuts that cost several-fold; the
// soft memory limit keeps the process within the 64 MiB resident target of
// docs/performance.md, since the runtime collects earlier as the limit
// nears: about 17 MiB of those are the executable's mapped code, which the
// limit does not count. The allocation profiler is off (nothing reads it).
const (
	hostGCPercent   = 400
	hostMemoryLimit = 36 << 20
)

// applyMemoryDefaults sets the collector defaults above.
func applyMemoryDefaults(env *environment) {
	runtime.MemProfileRate = 0
	if env.getenv("GOGC") == "" {
		debug.SetGCPercent(hostGCPercent)
	}
	if env.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(hostMemoryLimit)
	}
}
