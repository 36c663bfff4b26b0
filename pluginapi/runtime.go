package pluginapi

import (
	"runtime"
	"runtime/debug"
)

// Runtime defaults of a plugin process, applied by Serve unless the
// process's environment sets GOGC, GOMEMLIMIT or GOMAXPROCS itself (the
// host passes none of them, so under relay-host they always apply; a
// harness that launches a plugin with its own environment can override).
//
// A conversion allocates some KiB and keeps nothing, so a plugin's live
// heap is small (about 4 MiB for Discord under load) and the Go default
// (GOGC=100) collects every few MiB of garbage: under load that was a
// sixth of the Discord plugin's CPU. Collecting at five times the live heap
// cuts that cost several-fold; the soft memory limit keeps the process
// within the 32 MiB resident budget of a plugin (docs/performance.md), since the runtime collects
// earlier as the limit nears. Of those 32 MiB about 14 are the executable's
// mapped code, which the limit does not count, and about 6 the runtime's own
// (collector metadata, stacks); 18 MiB leaves the heap about 10.
//
// The allocation profiler is off (its buckets held 1.4 MiB that no plugin
// reads).
//
// A plugin shares the machine with the host and its sibling plugins, and
// its work per forward is microseconds: with as many scheduler threads as
// cores, Go's scheduler spun and woke threads across cores for every batch,
// which cost the Discord plugin a fifth of its CPU on two cores and added
// latency. A plugin therefore runs on a quarter of the cores the runtime
// would use (at least one): one on a small machine, more where there are
// many.
const (
	pluginGCPercent   = 400
	pluginMemoryLimit = 18 << 20
	pluginCoreShare   = 4 // a plugin uses 1/pluginCoreShare of the cores
)

// applyRuntimeDefaults sets the defaults above; getenv reads the process's
// environment.
func applyRuntimeDefaults(getenv func(string) string) {
	runtime.MemProfileRate = 0
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)/pluginCoreShare))
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(pluginGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(pluginMemoryLimit)
	}
}
