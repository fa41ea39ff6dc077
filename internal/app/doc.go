// Package app wires siftd together: it builds every component from the
// configuration, mounts their handlers on one router, runs them, reloads
// the configuration, and stops them in a written order. cmd/siftd only
// parses flags and turns signals into calls here, so tests start the whole
// daemon in-process.
//
// # Concurrency
//
// Reload may be called from any goroutine (SIGHUP and POST /-/reload);
// reloads are serialised and a failed one changes nothing. Run blocks
// until its context is cancelled, then shuts down: intake, engine drain,
// sinks.
package app
