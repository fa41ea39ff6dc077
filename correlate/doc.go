// Package correlate owns the engine: the single writer of sift's live
// state. It applies micro-batches of events (up to BatchMaxEvents or
// BatchMaxWait) in one go-memdb write transaction each: deduplication by
// fingerprint, resolution by event or by expiry (endsAt, or
// resolve_timeout after the last event, as Alertmanager does), and removal
// of resolved alerts after a retention. After each commit it hands the
// batch, with its events and the visible changes (alert opened, updated,
// resolved), to the subscribed sinks, which later issues' history,
// notification and Kafka outputs are.
//
// The engine is deterministic: given the same events with the same
// received_at and the same clock readings it makes the same rows and
// changes, however the events were batched (TestBatchingDoesNotChangeOutcome).
// It never reads the wall clock except through Options.Now, so replay and
// tests drive time. Commands (users' actions, silences, problem updates,
// change events, notification-log records) are applied in batches of
// their own at the clock they were submitted with (Command.At); with a
// CommandLog (the write-ahead log: SetCommandLog) they are logged before
// they are queued (Enqueue), and ReplayCommand applies a logged one again
// with the same outcome.
//
// Hot path: a duplicate costs a map lookup and a few atomic stores. The
// engine keeps its own fingerprint map and writes memdb only for changes
// readers must see; count, last_seen and ends_at live in atomics shared by
// every version of an alert's row. Alerts are stored in memdb in 4096
// pages by fingerprint, not a row each (pages.go): a memdb row costs
// ~450 bytes of radix tree whatever it holds.
//
// # Concurrency
//
// Run is the only goroutine that mutates state. Submit and Flush are safe
// from any goroutine; Submit never blocks (a full queue refuses the whole
// submission with ingest.ErrQueueFull). Readers (the API) use memdb read
// transactions: consistent snapshots that never block the writer, except
// for the hot counters, which are read live. Sinks are called on the Run
// goroutine and must not block.
//
// It must not do I/O on the apply path, call sinks before commit, or drop
// an accepted event.
package correlate
