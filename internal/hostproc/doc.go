// Package hostproc hardens the relay-host process itself against the
// plugins it starts, which run as separate processes, by default under the
// same user: MakeNonDumpable closes the host's /proc files (its environment,
// its memory) to processes of the same user, and DropEnv removes a secret
// from the host's environment, including the copy the kernel shows in
// /proc/PID/environ. Both do what they can on Linux and nothing elsewhere.
package hostproc
